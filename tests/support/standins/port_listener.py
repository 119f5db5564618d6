"""A TCP port that accepts and closes: the controller's RabbitMQ as the hosts' precheck sees it (a
connection within its timeout). Usage: python3 port_listener.py ADDRESS PORT"""

import socket
import sys

with socket.socket() as server:
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((sys.argv[1], int(sys.argv[2])))
    server.listen(1024)
    while True:
        conn, _ = server.accept()
        conn.close()
