"""Create or update a keystone user in the Default domain; its password comes on stdin.

Usage (with admin-openrc's OS_* variables set): service_user.py NAME < password
"""

import sys

import openstack


def main() -> int:
    name = sys.argv[1]
    password = sys.stdin.read().strip()
    if not password:
        print(f"service_user.py: no password on stdin for user {name}", file=sys.stderr)
        return 2
    conn = openstack.connect()  # the OS_* environment of admin-openrc
    domain = conn.identity.find_domain("Default", ignore_missing=False)
    user = conn.identity.find_user(name, domain_id=domain.id)
    if user is None:
        conn.identity.create_user(name=name, password=password, domain_id=domain.id)
    else:
        conn.identity.update_user(user, password=password)
    return 0


if __name__ == "__main__":
    sys.exit(main())
