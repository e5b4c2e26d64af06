// Loaded (by myst-nb's nb_ipywidgets_js, see _config.yml) after require.js and before the
// ipywidgets HTML manager, on pages that show widgets. The manager finds its icon fonts relative
// to its own module URL; point that URL at this site's copy (_static/html-manager/) so nothing
// is fetched from a CDN and the page works offline.
(function () {
  var here = document.currentScript && document.currentScript.src;
  if (!here || typeof require === "undefined") return;
  var base = new URL("html-manager", here).href;
  require.config({ paths: { "@jupyter-widgets/html-manager/dist": base } });
})();
