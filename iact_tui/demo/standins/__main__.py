"""What every stand-in's shell wrapper runs: ``python -I -S <host>/usr/local/lib/iact-sandbox/standins TOOL ARGS...``.

Run as a folder, this file belongs to no package and the folder itself is ``sys.path[0]``; its
parent takes that place instead, so that the package imports under its own name (``standins``,
as the sandbox project's manage.py imports it too) and no tool module (``pip``) shadows another.
"""

import os
import sys

if __name__ == "__main__":
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    from standins import main

    sys.exit(main(sys.argv[1:]))
