"""gradgen's application (the command line, reports, charts, data sources, the
gradient check, sweeps) and, in gradgen.runtime, the library that generated
modules import. Nothing is imported here: a generated module that imports
gradgen.runtime pulls in neither SymPy nor Jinja2 nor the application."""
