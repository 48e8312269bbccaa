// MathJax 3 settings for pymdownx.arithmatex (generic mode): \( ... \) inline, \[ ... \] display.
// The renderer, tex-svg-full.js, is served from this site (no network): SVG output needs no web fonts, and
// the full component holds every TeX extension, so nothing is loaded on demand.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"]],
    displayMath: [["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true
  },
  svg: {
    fontCache: "global"
  },
  options: {
    ignoreHtmlClass: ".*|",
    processHtmlClass: "arithmatex"
  }
};
