"""python -m cnnstat"""

from cnnstat.cli import main

main()
