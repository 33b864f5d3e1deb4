"""`raytune-hp tune` as a script, for `ray submit cluster/gpu.yaml scripts/tune.py -- CONFIG ...`.

The launcher copies only this file to the head node's home folder, so it imports the installed
package (set up on every node by the cluster YAML), never a neighbouring file.
"""

import sys

from raytune_hp.cli import main

if __name__ == "__main__":
    sys.exit(main(["tune", *sys.argv[1:]]))
