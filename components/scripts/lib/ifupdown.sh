# shellcheck shell=bash
# Persisting a bridge for reboots the way Debian does (ifupdown reads /etc/network/interfaces.d when
# /etc/network/interfaces sources it), shared by configure_bridge.sh and configure_ovs.sh. A script
# sources this file from its folder; script_command puts its text in place of that line.

# persist_stanza NETDIR NAME < STANZA: NETDIR/interfaces.d/NAME holds STANZA (temp file + mv, only when
# it changed, saying so); an empty STANZA removes a file novalab wrote there before. NETDIR/interfaces
# gets the `source` line when it has none.
persist_stanza() {
  local netdir=$1 name=$2 target tmp
  target=$netdir/interfaces.d/$name
  mkdir -p "$netdir/interfaces.d"
  tmp=$(mktemp "$netdir/interfaces.d/.$name.XXXXXX")
  cat > "$tmp"
  if [ ! -s "$tmp" ]; then
    rm -f "$tmp"
    if [ -f "$target" ] && grep -q '^# Managed by novalab' "$target"; then rm -f "$target"; echo "removed $target"; fi
    return 0
  fi
  chmod 0644 "$tmp"
  if cmp -s "$tmp" "$target"; then rm -f "$tmp"; else mv -f "$tmp" "$target"; echo "wrote $target"; fi
  if [ -f "$netdir/interfaces" ] && ! grep -Eq '^\s*source(-directory)?\s+/etc/network/interfaces\.d' "$netdir/interfaces"; then
    printf '\nsource /etc/network/interfaces.d/*\n' >> "$netdir/interfaces"
  fi
}

# stanza_value NETDIR NAME KEY: KEY's value in the stanza novalab wrote for NAME, or nothing.
stanza_value() {
  local target=$1/interfaces.d/$2
  if [ -f "$target" ] && grep -q '^# Managed by novalab' "$target"; then
    sed -n "s/^ *$3 //p" "$target"
  fi
}
