# shellcheck shell=bash
# The `lab` stack and this lab. The committed Pulumi.lab.yaml says what the lab is (addresses,
# flavors, servers); what only this machine knows (host keys, generated secrets, the stack's
# encryption salt) never goes into it:
#   lab/lab up        -> $LAB_DIR/Pulumi.lab.yaml: Pulumi.lab.yaml + this lab's hosts and host keys
#   lab/lab stack F   -> F: that + the salt + the secrets (`pulumi config set --secret --config-file F`,
#                        each value on stdin); novalab runs the lab stack with `--config-file F`.

LAB_FACTS=$LAB_DIR/Pulumi.lab.yaml

# write_lab_facts COUNT: the running cloud's backend and queue type, each host with its tunnel
# address (on its provider bridge: OVS's userspace datapath tunnels only from an address on one of its
# bridges; the Linux bridge agent tunnels from the management address).
write_lab_facts() {
  local count=$1 n tunnel
  local -a hosts=()
  for n in $(seq 1 "$count"); do
    tunnel=-
    if [ "$LAB_NETWORK" != linuxbridge ]; then tunnel="$(tunnel_address "$n")/24"; fi
    hosts+=(--host "compute-$n" "$(host_address "$n")" "$(host_key "$n")" "$tunnel")
  done
  "$SYSTEM_PYTHON" "$LAB_HOME/lib/stack_config.py" facts "$LAB_HOME/../Pulumi.lab.yaml" "$LAB_FACTS" \
    --controller-key "$(cut -d' ' -f1,2 "$LAB_DIR/controller/ssh_host_ed25519_key.pub")" \
    --network "$LAB_NETWORK" --rabbit-queues "$RABBIT_QUEUES" "${hosts[@]}"
  info "the lab stack's cloud ($LAB_RELEASE + $LAB_NETWORK), hosts and host keys: $LAB_FACTS"
}

# write_stack_config CONFIG_FILE: needs `pulumi` on PATH with the backend and passphrase set
# (./novalab sets them up).
write_stack_config() {
  local config=$1 project scratch
  project=$(cd "$LAB_HOME/.." && pwd)
  [ -f "$LAB_FACTS" ] || die "no $LAB_FACTS: run lab/lab up first"
  command -v pulumi >/dev/null 2>&1 || die "lab/lab stack needs the pulumi CLI on PATH (./novalab pulumi, ./novalab up)"
  mkdir -p "$(dirname "$config")"
  scratch=$(mktemp -d)
  if ! (cd "$project" && pulumi stack ls --json) | "$SYSTEM_PYTHON" -c \
      'import json, sys; sys.exit(0 if any(s["name"].split("/")[-1] == "lab" for s in json.load(sys.stdin)) else 1)'; then
    # `stack init` writes the passphrase provider's salt into Pulumi.lab.yaml of the project it
    # runs in: run it in a scratch copy of the project, so the committed file stays as it is.
    cp "$project/Pulumi.yaml" "$scratch/"
    (cd "$scratch" && pulumi stack init lab >/dev/null)
  fi
  "$SYSTEM_PYTHON" "$LAB_HOME/lib/stack_config.py" working "$LAB_FACTS" "$config" "$scratch/Pulumi.lab.yaml"
  rm -rf "$scratch"
  set_secret() { (cd "$project" && pulumi config set --secret --config-file "$config" -s lab "$1"); }
  secret rabbit | set_secret novalab:rabbitPassword
  secret svc-nova | set_secret novalab:novaServicePassword
  secret svc-neutron | set_secret novalab:neutronServicePassword
  # nova's metadata API checks what the OVN metadata agents on the compute hosts sign with it.
  secret metadata | set_secret novalab:metadataProxySharedSecret
  set_secret novalab:sshPrivateKey < "$LAB_DIR/ssh/id_ed25519"
  set_secret novalab:novaMigrationSshKey < "$LAB_DIR/ssh/nova_migration"
  secret admin | set_secret openstack:password
  info "the lab stack's config (hosts, host keys, secrets): $config"
}
