"""hyperkube: ship many servers as one file, picked by argv[1] or by the name it runs under.

    hk = HyperKube("km", "km runs a small cluster.")
    hk.add_server(Server("scheduler", run="servers.scheduler.app:run", usage="...",
                         aliases=("kube-scheduler",), add_flags=options.add_flags))
    sys.exit(hk.run(sys.argv))

Importing this package costs the standard library only; a server's module is imported only
when that server runs. build.py turns such a program into one zipapp.

A server may run others of the same program: in its own process (`hyperkube.together`, each
restarted with backoff when it fails) or as supervised child processes (`hyperkube.supervisor`,
with rotated logs; its flags are in the light `hyperkube.supervisor_options`). Modules of this
package import one way, from this face down to `messages` (tests/unit/hyperkube/test_layout.py).
"""

from hyperkube.hyperkube import HyperKube, program_name
from hyperkube.server import Server

__all__ = ["HyperKube", "Server", "program_name"]
