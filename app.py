"""The web app's entry in the project layout: ``python app.py [--host H] [--port P] [--index DIR]``.

The app lives in the package (``qa.web``) so an installed ``qa`` can serve it; this is the same
as ``qa serve``.
"""

import sys

from qa.cli import main

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))
