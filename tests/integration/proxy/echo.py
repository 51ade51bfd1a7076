"""A small endpoint process for proxy tests and benchmarks: TCP and UDP echo with a name.

    python3 echo.py NAME HOST PORT        # serves TCP and UDP on HOST:PORT until killed

TCP: the server first sends ``NAME\\n``; a line ``BULK N`` asks for N bytes then close;
anything else is echoed back until the client closes. UDP: each datagram is answered with
``NAME:`` followed by it. Standard library only, so it runs under any python3.
"""

from __future__ import annotations

import socket
import socketserver
import sys
import threading

BLOCK = b"\0" * 65536


def main() -> None:
    name, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    greeting = name.encode() + b"\n"

    class Tcp(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            conn: socket.socket = self.request
            try:
                conn.sendall(greeting)
                first = conn.recv(65536)
                if first.startswith(b"BULK "):
                    remaining = int(first.split()[1])
                    while remaining > 0:
                        chunk = BLOCK[:min(remaining, len(BLOCK))]
                        conn.sendall(chunk)
                        remaining -= len(chunk)
                    return
                data = first
                while data:
                    conn.sendall(data)
                    data = conn.recv(65536)
            except OSError:
                pass

    class Server(socketserver.ThreadingTCPServer):
        allow_reuse_address = True
        daemon_threads = True
        request_queue_size = 1024

    tcp = Server((host, port), Tcp)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind((host, port))

    def serve_udp() -> None:
        while True:
            data, peer = udp.recvfrom(65536)
            udp.sendto(name.encode() + b":" + data, peer)

    threading.Thread(target=serve_udp, daemon=True).start()
    print("ready", flush=True)
    tcp.serve_forever()


if __name__ == "__main__":
    main()
