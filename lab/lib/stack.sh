# shellcheck shell=bash
# What the `lab` stack needs from this bring-up: the hosts' SSH host keys (pinned) and the secrets.
# Non-secret values are committed in Pulumi.lab.yaml; secrets never are.

write_stack_config() {
  local count=$1 n stack=$LAB_HOME/../Pulumi.lab.yaml
  log "stack: host keys into Pulumi.lab.yaml, secrets into the stack (pulumi config set --secret)"
  local -a hosts=()
  for n in $(seq 1 "$count"); do hosts+=("compute-$n" "$(host_address "$n")" "$(host_key "$n")"); done
  "$SYSTEM_PYTHON" "$LAB_HOME/lib/set_host_keys.py" "$stack" \
    "$(cut -d' ' -f1,2 "$LAB_DIR/controller/ssh_host_ed25519_key.pub")" "${hosts[@]}"
  if command -v pulumi >/dev/null 2>&1; then
    export PULUMI_CONFIG_PASSPHRASE_FILE=$LAB_DIR/secrets/pulumi-passphrase
    secret pulumi-passphrase >/dev/null
    (
      cd "$LAB_HOME/.." || exit 1
      pulumi stack select -c lab >/dev/null
      secret rabbit | pulumi config set --secret novalab:rabbitPassword
      secret svc-nova | pulumi config set --secret novalab:novaServicePassword
      secret svc-neutron | pulumi config set --secret novalab:neutronServicePassword
      pulumi config set --secret novalab:sshPrivateKey < "$LAB_DIR/ssh/id_ed25519"
      secret admin | pulumi config set --secret openstack:password
    )
  else
    info "no pulumi CLI: secrets stay in $LAB_DIR/secrets (0600) until \`lab/lab stack\` runs with pulumi on PATH"
  fi
}
