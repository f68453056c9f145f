// Loaded before RequireJS and the ipywidgets embed manager (see nb_ipywidgets_js in _config.yml).
// The embed manager finds its icon fonts relative to the URL RequireJS gives its module name
// "@jupyter-widgets/html-manager/dist/..."; in this book those files sit in _static/html-manager/
// next to embed-amd.js, so map the name there (RequireJS reads a global `require` object as its
// configuration when it loads).
(function () {
  var script = document.currentScript;
  if (!script || !script.src) {
    return;
  }
  var base = script.src.replace(/[^\/]*$/, "");
  window.__jupyter_widgets_assets_path__ = base + "html-manager/";
  window.require = { paths: { "@jupyter-widgets/html-manager/dist": base + "html-manager" } };
})();

// The embed manager typesets widget labels with MathJax 2's API (`MathJax.Hub.Queue([...,
// element])`), while the book loads MathJax 3, which has no `Hub`: every page with a widget threw
// "Cannot read properties of undefined (reading 'Queue')". This script runs before MathJax 3
// starts (MathJax is loaded with `defer`), so it adds to MathJax's configuration a `Hub.Queue`
// that maps the call onto MathJax 3's `typesetPromise`, and keeps the calls made before MathJax
// is ready until it is.
(function () {
  var config = window.MathJax;
  if (!config || config.version) {
    return;
  }
  var pending = [];
  function typeset(elements) {
    return window.MathJax.typesetPromise(elements).catch(function (err) {
      console.warn("MathJax could not typeset a widget label:", err);
    });
  }
  config.Hub = { Queue: function (job) { if (job && job[2]) pending.push(job[2]); } };
  config.startup = config.startup || {};
  var ready = config.startup.ready;
  config.startup.ready = function () {
    if (ready) { ready(); } else { window.MathJax.startup.defaultReady(); }
    window.MathJax.Hub = { Queue: function (job) { if (job && job[2]) typeset([job[2]]); } };
    window.MathJax.startup.promise.then(function () { if (pending.length) typeset(pending); });
  };
})();
