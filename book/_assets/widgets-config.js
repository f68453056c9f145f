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
