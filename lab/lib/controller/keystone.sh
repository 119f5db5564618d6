# shellcheck shell=bash
# keystone: identity under uwsgi (fernet tokens), bootstrapped once; writes admin-openrc.

# The admin password goes in the environment, not on the command line.
keystone_bootstrap() {
  as_user keystone keystone-manage db_sync \
    && in_ctl keystone-manage fernet_setup --keystone-user keystone --keystone-group keystone \
    && in_ctl keystone-manage credential_setup --keystone-user keystone --keystone-group keystone \
    && OS_BOOTSTRAP_PASSWORD=$(secret admin) in_ctl keystone-manage bootstrap \
      --bootstrap-admin-url "$KEYSTONE_URL" --bootstrap-internal-url "$KEYSTONE_URL" \
      --bootstrap-public-url "$KEYSTONE_URL" --bootstrap-region-id RegionOne
}

keystone_up() {
  ctl_conf /etc/keystone/keystone.conf keystone <<CONF
[DEFAULT]
log_dir = $LAB_LOGS
[database]
connection = $(db_url keystone keystone)
[token]
provider = fernet
CONF
  once keystone.bootstrapped keystone-manage.out "keystone db sync + bootstrap" keystone_bootstrap
  uwsgi_app keystone keystone 5000 /usr/bin/keystone-wsgi-public
  admin_openrc
  wait_for keystone 60 "$LAB_LOGS/keystone.log" os_cloud ready keystone
}
