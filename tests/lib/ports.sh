# tests/lib/ports.sh: sourced by the script suites to pick a block of TCP ports of their own.
# The blocks lie below the kernel's ephemeral range (32768 and up by default), so that no client
# connection made during a suite can take a port as its source port before a daemon binds it, and
# each suite has its own range, so that they never meet. A block any socket already uses (listening,
# or a connection's local port) is passed over.

# port_busy PORT: 0 when some TCP socket has PORT as its local port.
port_busy() {
    local hex
    hex=$(printf '%04X' "$1")
    awk -v h=":$hex" 'FNR > 1 && substr($2, length($2) - 4) == h { found = 1 } END { exit !found }' \
        /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# pick_ports FIRST BLOCKS SIZE: sets BASE to the first port of a free block of SIZE ports among the
# BLOCKS blocks from FIRST (FIRST + BLOCKS * SIZE must stay below 32768), starting at one chosen
# from this shell's pid, so that two runs at once start apart.
pick_ports() {
    local first=$1 blocks=$2 size=$3 try i busy
    for ((try = 0; try < blocks; try++)); do
        BASE=$((first + (($$ + try * 37) % blocks) * size))
        busy=0
        for ((i = 0; i < size; i++)); do port_busy $((BASE + i)) && { busy=1; break; }; done
        [ $busy = 0 ] && return 0
    done
    echo "no free block of $size ports from $first" >&2
    return 1
}
