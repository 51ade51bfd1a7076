"""hyperkube: ship many servers as one file, picked by argv[1] or by the name it runs under.

    hk = HyperKube("km", "km runs a small cluster.")
    hk.add_server(Server("scheduler", run="servers.scheduler.app:run", usage="...",
                         aliases=("kube-scheduler",), add_flags=options.add_flags))
    sys.exit(hk.run(sys.argv))

Importing this package costs the standard library only; a server's module is imported only
when that server runs. build.py turns such a program into one zipapp.
"""

from hyperkube.hyperkube import HyperKube, program_name
from hyperkube.server import Server

__all__ = ["HyperKube", "Server", "program_name"]
