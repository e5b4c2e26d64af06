// Loaded (by myst-nb's nb_ipywidgets_js, see _config.yml) after require.js and before the
// ipywidgets HTML manager, on pages that show widgets.
(function () {
  // 1. The manager finds its icon fonts relative to its own module URL: point that URL at this
  //    site's copy (_static/html-manager/) so nothing is fetched from a CDN and pages work offline.
  var here = document.currentScript && document.currentScript.src;
  if (here && typeof require !== "undefined") {
    require.config({ paths: { "@jupyter-widgets/html-manager/dist": new URL("html-manager", here).href } });
  }
  // 2. The manager typesets widget labels with MathJax 2's MathJax.Hub.Queue; the book loads
  //    MathJax 3, which has no Hub. Give it one that forwards to MathJax 3's typesetPromise.
  //    Installed once the deferred MathJax script has run (DOMContentLoaded), before the manager
  //    renders (its listener is registered after this one).
  function installHub() {
    var mj = window.MathJax;
    if (!mj || mj.Hub || typeof mj.typesetPromise !== "function") return;
    mj.Hub = {
      Queue: function (job) {
        var el = job && job[2];
        var ready = (mj.startup && mj.startup.promise) || Promise.resolve();
        ready.then(function () { return mj.typesetPromise(el ? [el] : undefined); })
             .catch(function (err) { console.warn("MathJax could not typeset a widget label", err); });
      },
    };
  }
  installHub();
  document.addEventListener("DOMContentLoaded", installHub);
})();
