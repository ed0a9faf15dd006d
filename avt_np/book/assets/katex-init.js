// KaTeX (assets/katex/) renders what pymdownx.arithmatex marked in generic mode: \( \) inline,
// \[ \] display. document$ (mkdocs-material) fires on every page shown.
document$.subscribe(function () {
  document.querySelectorAll(".arithmatex").forEach(function (element) {
    renderMathInElement(element, {
      delimiters: [{left: "\\(", right: "\\)", display: false},
                   {left: "\\[", right: "\\]", display: true}],
      throwOnError: false
    });
  });
});
