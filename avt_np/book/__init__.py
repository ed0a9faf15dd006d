"""The lessons as a book in the browser: `python -m avt_np.book build` (docs/book.md).

lessons.py finds the lessons, their exercises and the lesson table; execute.py runs a lesson
in a Jupyter kernel (jupytext, nbclient); pages.py writes the Markdown pages (nbconvert);
site.py makes the static site (mkdocs-material); build.py does all of it in order."""
