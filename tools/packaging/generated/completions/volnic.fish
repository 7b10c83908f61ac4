# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_volnic_global_optspecs
    string join \n log= h/help V/version
end

function __fish_volnic_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_volnic_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_volnic_using_subcommand
    set -l cmd (__fish_volnic_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c volnic -n "__fish_volnic_needs_command" -l log -d 'Log level or filter (overrides RUST_LOG), e.g. `info`, `debug`' -r
complete -c volnic -n "__fish_volnic_needs_command" -s h -l help -d 'Print help'
complete -c volnic -n "__fish_volnic_needs_command" -s V -l version -d 'Print version'
complete -c volnic -n "__fish_volnic_needs_command" -f -a "format" -d 'Format a file or block device as a volnic volume'
complete -c volnic -n "__fish_volnic_needs_command" -f -a "inspect" -d 'Decode a volume: superblock, state record, recent blocks'
complete -c volnic -n "__fish_volnic_needs_command" -f -a "demo" -d 'Run two endpoints on temporary file-backed volumes and report'
complete -c volnic -n "__fish_volnic_needs_command" -f -a "bench" -d 'Measure latency, throughput and CPU beside the storage\'s own limits'
complete -c volnic -n "__fish_volnic_needs_command" -f -a "keygen" -d 'Make a key file for authenticated mode (mode 0600, 32 random bytes as hex)'
complete -c volnic -n "__fish_volnic_needs_command" -f -a "up" -d 'Run a Linux endpoint: a TAP device carried over the send and receive volumes'
complete -c volnic -n "__fish_volnic_needs_command" -f -a "status" -d 'Is each volume\'s writer alive? Epoch, last write, acknowledgements'
complete -c volnic -n "__fish_volnic_needs_command" -f -a "install" -d 'Windows: add the driver package to the driver store and create a volnic adapter (a root-enumerated virtual NIC)'
complete -c volnic -n "__fish_volnic_needs_command" -f -a "uninstall" -d 'Windows: remove every volnic adapter and the driver package'
complete -c volnic -n "__fish_volnic_needs_command" -f -a "list" -d 'Windows: list volnic adapters, their interface names and settings'
complete -c volnic -n "__fish_volnic_needs_command" -f -a "config" -d 'Windows: show or change an adapter\'s settings (the values of Device Manager\'s Advanced tab)'
complete -c volnic -n "__fish_volnic_needs_command" -f -a "mirror" -d 'Emulate storage mirroring from SRC (a send volume) to DST (the peer\'s receive volume)'
complete -c volnic -n "__fish_volnic_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c volnic -n "__fish_volnic_using_subcommand format" -l block-size -d 'Block size in bytes (multiple of 512, 512..=1048576). Both peers of a link must use the same' -r
complete -c volnic -n "__fish_volnic_using_subcommand format" -l blocks -d 'Ring slots (data blocks) on the volume' -r
complete -c volnic -n "__fish_volnic_using_subcommand format" -l writer-node -d 'Node number (1..=32) of the node that writes this volume' -r
complete -c volnic -n "__fish_volnic_using_subcommand format" -l reader-node -d 'Node number (1..=32) of the node that reads it' -r
complete -c volnic -n "__fish_volnic_using_subcommand format" -l members -d 'Format a segment of N members (2..=32) instead of a link volume: one shared LUN or file holding a region for every member (the together form of docs/FORMAT.md, "Segments"); --blocks is then each region\'s ring' -r
complete -c volnic -n "__fish_volnic_using_subcommand format" -l member -d 'With --members: format member K\'s volume of an apart-form segment (one volume per member, carried to the others by the storage) instead of the whole segment on one volume' -r
complete -c volnic -n "__fish_volnic_using_subcommand format" -l segment-id -d 'With --member: the segment\'s id (32 hex digits), as `volnic format` printed it for the first member\'s volume; every member\'s volume of one segment carries the same. Without it a new segment id is drawn' -r
complete -c volnic -n "__fish_volnic_using_subcommand format" -l group -d 'Service group allowed to read and write the volume file (mode 0660 instead of 0600); a group name or number. Ignored for block devices, whose owner and mode are udev\'s' -r
complete -c volnic -n "__fish_volnic_using_subcommand format" -l log -d 'Log level or filter (overrides RUST_LOG), e.g. `info`, `debug`' -r
complete -c volnic -n "__fish_volnic_using_subcommand format" -l force -d 'Overwrite a volume that already holds a volnic format or other data'
complete -c volnic -n "__fish_volnic_using_subcommand format" -l authenticated -d 'Authenticated mode: every block will carry a keyed MAC; both nodes then need the same key file'
complete -c volnic -n "__fish_volnic_using_subcommand format" -s h -l help -d 'Print help'
complete -c volnic -n "__fish_volnic_using_subcommand inspect" -l last -d 'How many of the most recent data blocks to decode' -r
complete -c volnic -n "__fish_volnic_using_subcommand inspect" -l log -d 'Log level or filter (overrides RUST_LOG), e.g. `info`, `debug`' -r
complete -c volnic -n "__fish_volnic_using_subcommand inspect" -l json -d 'Print JSON instead of text'
complete -c volnic -n "__fish_volnic_using_subcommand inspect" -s h -l help -d 'Print help'
complete -c volnic -n "__fish_volnic_using_subcommand demo" -l dir -d 'Directory for the temporary volumes (default: under /var/tmp)' -r -F
complete -c volnic -n "__fish_volnic_using_subcommand demo" -l block-size -d 'Block size in bytes' -r
complete -c volnic -n "__fish_volnic_using_subcommand demo" -l seconds -d 'Seconds of heartbeats, and again of bulk traffic' -r
complete -c volnic -n "__fish_volnic_using_subcommand demo" -l log -d 'Log level or filter (overrides RUST_LOG), e.g. `info`, `debug`' -r
complete -c volnic -n "__fish_volnic_using_subcommand demo" -l netns -d 'Instead: build two network namespaces, each with a `volnic up` endpoint on a TAP device; ping across, measure one-way latency and TCP throughput between them, and remove everything (needs root and iproute2)'
complete -c volnic -n "__fish_volnic_using_subcommand demo" -s h -l help -d 'Print help'
complete -c volnic -n "__fish_volnic_using_subcommand bench" -l dir -d 'Directory for the volumes (on the storage to measure). Default: a new directory under /var/tmp (or the system temp dir)' -r -F
complete -c volnic -n "__fish_volnic_using_subcommand bench" -l block-size -d 'Block size in bytes' -r
complete -c volnic -n "__fish_volnic_using_subcommand bench" -l seconds -d 'Seconds per phase (idle, heartbeats every 1 ms, heartbeats every 1 s, bulk)' -r
complete -c volnic -n "__fish_volnic_using_subcommand bench" -l poll-us -d 'Receive poll interval when idle, µs' -r
complete -c volnic -n "__fish_volnic_using_subcommand bench" -l flush-delay-ms -d 'Flush delay for partial blocks, ms' -r
complete -c volnic -n "__fish_volnic_using_subcommand bench" -l heartbeat-bytes -d 'Heartbeat frame size in bytes' -r
complete -c volnic -n "__fish_volnic_using_subcommand bench" -l log -d 'Log level or filter (overrides RUST_LOG), e.g. `info`, `debug`' -r
complete -c volnic -n "__fish_volnic_using_subcommand bench" -l json -d 'Print JSON instead of a table'
complete -c volnic -n "__fish_volnic_using_subcommand bench" -s h -l help -d 'Print help'
complete -c volnic -n "__fish_volnic_using_subcommand keygen" -l log -d 'Log level or filter (overrides RUST_LOG), e.g. `info`, `debug`' -r
complete -c volnic -n "__fish_volnic_using_subcommand keygen" -l force -d 'Replace an existing file (it is made mode 0600 first)'
complete -c volnic -n "__fish_volnic_using_subcommand keygen" -s h -l help -d 'Print help'
complete -c volnic -n "__fish_volnic_using_subcommand up" -l config -d 'Settings file (TOML, keys as the long options: `send`, `recv`, `tap`, `addr`, `mac`, `mtu`, `flush-delay-ms`, `poll-us`, `peer-timeout-ms`, `node-id`, `key-file`, `queue-kb`). Options given on the command line override it' -r -F
complete -c volnic -n "__fish_volnic_using_subcommand up" -l send -d 'This node\'s send volume (formatted with `volnic format`)' -r -F
complete -c volnic -n "__fish_volnic_using_subcommand up" -l recv -d 'The peer\'s send volume as it reaches this node (mirror target or shared LUN); opened read-only' -r -F
complete -c volnic -n "__fish_volnic_using_subcommand up" -l tap -d 'TAP device to create or attach to [default: volnic0]' -r
complete -c volnic -n "__fish_volnic_using_subcommand up" -l addr -d 'Address to give the TAP device, e.g. 169.254.77.1/16' -r
complete -c volnic -n "__fish_volnic_using_subcommand up" -l mac -d 'MAC of the TAP device [default: stable, derived from the send volume]' -r
complete -c volnic -n "__fish_volnic_using_subcommand up" -l mtu -d 'IP MTU [default: 1500; 576..=9000]' -r
complete -c volnic -n "__fish_volnic_using_subcommand up" -l flush-delay-ms -d 'How long a partly filled block waits for more frames [default: 0; 0..=1000]' -r
complete -c volnic -n "__fish_volnic_using_subcommand up" -l poll-us -d 'Longest wait between receive-volume polls when idle [default: 1000; 50..=1000000]' -r
complete -c volnic -n "__fish_volnic_using_subcommand up" -l peer-timeout-ms -d 'The link goes down when the peer\'s record is this old [default: 3000; 200..=60000]' -r
complete -c volnic -n "__fish_volnic_using_subcommand up" -l node-id -d 'This node\'s id [default: the send volume\'s writer]' -r
complete -c volnic -n "__fish_volnic_using_subcommand up" -l key-file -d 'Shared secret of authenticated mode (same file on both nodes)' -r -F
complete -c volnic -n "__fish_volnic_using_subcommand up" -l queue-kb -d 'Send queue size in KiB [default: 1024; 64..=65536]' -r
complete -c volnic -n "__fish_volnic_using_subcommand up" -l log -d 'Log level or filter (overrides RUST_LOG), e.g. `info`, `debug`' -r
complete -c volnic -n "__fish_volnic_using_subcommand up" -s h -l help -d 'Print help'
complete -c volnic -n "__fish_volnic_using_subcommand status" -l watch-ms -d 'How long to watch the state records for updates. A live writer updates its record every fifth of its peer timeout (600 ms at the default 3 s), so watch longer than that' -r
complete -c volnic -n "__fish_volnic_using_subcommand status" -l log -d 'Log level or filter (overrides RUST_LOG), e.g. `info`, `debug`' -r
complete -c volnic -n "__fish_volnic_using_subcommand status" -l json -d 'Print JSON instead of text'
complete -c volnic -n "__fish_volnic_using_subcommand status" -s h -l help -d 'Print help'
complete -c volnic -n "__fish_volnic_using_subcommand install" -l inf -d 'The driver package\'s volnic.inf (next to volnic.sys and volnic.cat). Default: volnic.inf beside volnic.exe, then in the current directory' -r -F
complete -c volnic -n "__fish_volnic_using_subcommand install" -l log -d 'Log level or filter (overrides RUST_LOG), e.g. `info`, `debug`' -r
complete -c volnic -n "__fish_volnic_using_subcommand install" -s h -l help -d 'Print help'
complete -c volnic -n "__fish_volnic_using_subcommand uninstall" -l log -d 'Log level or filter (overrides RUST_LOG), e.g. `info`, `debug`' -r
complete -c volnic -n "__fish_volnic_using_subcommand uninstall" -s h -l help -d 'Print help'
complete -c volnic -n "__fish_volnic_using_subcommand list" -l log -d 'Log level or filter (overrides RUST_LOG), e.g. `info`, `debug`' -r
complete -c volnic -n "__fish_volnic_using_subcommand list" -s h -l help -d 'Print help'
complete -c volnic -n "__fish_volnic_using_subcommand config; and not __fish_seen_subcommand_from get set help" -l log -d 'Log level or filter (overrides RUST_LOG), e.g. `info`, `debug`' -r
complete -c volnic -n "__fish_volnic_using_subcommand config; and not __fish_seen_subcommand_from get set help" -s h -l help -d 'Print help'
complete -c volnic -n "__fish_volnic_using_subcommand config; and not __fish_seen_subcommand_from get set help" -f -a "get" -d 'Show an adapter\'s settings: all of them, or the KEYs named'
complete -c volnic -n "__fish_volnic_using_subcommand config; and not __fish_seen_subcommand_from get set help" -f -a "set" -d 'Change settings and restart the adapter so they take effect. Each KEY=VALUE is checked against the INF\'s ranges; KEY= removes an optional value (numbers then take their default)'
complete -c volnic -n "__fish_volnic_using_subcommand config; and not __fish_seen_subcommand_from get set help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c volnic -n "__fish_volnic_using_subcommand config; and __fish_seen_subcommand_from get" -l log -d 'Log level or filter (overrides RUST_LOG), e.g. `info`, `debug`' -r
complete -c volnic -n "__fish_volnic_using_subcommand config; and __fish_seen_subcommand_from get" -s h -l help -d 'Print help'
complete -c volnic -n "__fish_volnic_using_subcommand config; and __fish_seen_subcommand_from set" -l log -d 'Log level or filter (overrides RUST_LOG), e.g. `info`, `debug`' -r
complete -c volnic -n "__fish_volnic_using_subcommand config; and __fish_seen_subcommand_from set" -s h -l help -d 'Print help'
complete -c volnic -n "__fish_volnic_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "get" -d 'Show an adapter\'s settings: all of them, or the KEYs named'
complete -c volnic -n "__fish_volnic_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "set" -d 'Change settings and restart the adapter so they take effect. Each KEY=VALUE is checked against the INF\'s ranges; KEY= removes an optional value (numbers then take their default)'
complete -c volnic -n "__fish_volnic_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c volnic -n "__fish_volnic_using_subcommand mirror" -l mode -d 'Mirroring mode' -r -f -a "sync\t'Copy changes as soon as they are seen (like SRDF/S, DRBD protocol C)'
async\t'Make copies visible --lag-ms after they were seen (like SRDF/A)'"
complete -c volnic -n "__fish_volnic_using_subcommand mirror" -l lag-ms -d 'Lag of --mode async, in milliseconds [default: 50]' -r
complete -c volnic -n "__fish_volnic_using_subcommand mirror" -l interval-us -d 'Pause between polls of SRC, in microseconds' -r
complete -c volnic -n "__fish_volnic_using_subcommand mirror" -l sweep-ms -d 'Period of the full re-read of SRC, in milliseconds' -r
complete -c volnic -n "__fish_volnic_using_subcommand mirror" -l duration-ms -d 'Stop after this many milliseconds (default: run until killed)' -r
complete -c volnic -n "__fish_volnic_using_subcommand mirror" -l log -d 'Log level or filter (overrides RUST_LOG), e.g. `info`, `debug`' -r
complete -c volnic -n "__fish_volnic_using_subcommand mirror" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c volnic -n "__fish_volnic_using_subcommand help; and not __fish_seen_subcommand_from format inspect demo bench keygen up status install uninstall list config mirror help" -f -a "format" -d 'Format a file or block device as a volnic volume'
complete -c volnic -n "__fish_volnic_using_subcommand help; and not __fish_seen_subcommand_from format inspect demo bench keygen up status install uninstall list config mirror help" -f -a "inspect" -d 'Decode a volume: superblock, state record, recent blocks'
complete -c volnic -n "__fish_volnic_using_subcommand help; and not __fish_seen_subcommand_from format inspect demo bench keygen up status install uninstall list config mirror help" -f -a "demo" -d 'Run two endpoints on temporary file-backed volumes and report'
complete -c volnic -n "__fish_volnic_using_subcommand help; and not __fish_seen_subcommand_from format inspect demo bench keygen up status install uninstall list config mirror help" -f -a "bench" -d 'Measure latency, throughput and CPU beside the storage\'s own limits'
complete -c volnic -n "__fish_volnic_using_subcommand help; and not __fish_seen_subcommand_from format inspect demo bench keygen up status install uninstall list config mirror help" -f -a "keygen" -d 'Make a key file for authenticated mode (mode 0600, 32 random bytes as hex)'
complete -c volnic -n "__fish_volnic_using_subcommand help; and not __fish_seen_subcommand_from format inspect demo bench keygen up status install uninstall list config mirror help" -f -a "up" -d 'Run a Linux endpoint: a TAP device carried over the send and receive volumes'
complete -c volnic -n "__fish_volnic_using_subcommand help; and not __fish_seen_subcommand_from format inspect demo bench keygen up status install uninstall list config mirror help" -f -a "status" -d 'Is each volume\'s writer alive? Epoch, last write, acknowledgements'
complete -c volnic -n "__fish_volnic_using_subcommand help; and not __fish_seen_subcommand_from format inspect demo bench keygen up status install uninstall list config mirror help" -f -a "install" -d 'Windows: add the driver package to the driver store and create a volnic adapter (a root-enumerated virtual NIC)'
complete -c volnic -n "__fish_volnic_using_subcommand help; and not __fish_seen_subcommand_from format inspect demo bench keygen up status install uninstall list config mirror help" -f -a "uninstall" -d 'Windows: remove every volnic adapter and the driver package'
complete -c volnic -n "__fish_volnic_using_subcommand help; and not __fish_seen_subcommand_from format inspect demo bench keygen up status install uninstall list config mirror help" -f -a "list" -d 'Windows: list volnic adapters, their interface names and settings'
complete -c volnic -n "__fish_volnic_using_subcommand help; and not __fish_seen_subcommand_from format inspect demo bench keygen up status install uninstall list config mirror help" -f -a "config" -d 'Windows: show or change an adapter\'s settings (the values of Device Manager\'s Advanced tab)'
complete -c volnic -n "__fish_volnic_using_subcommand help; and not __fish_seen_subcommand_from format inspect demo bench keygen up status install uninstall list config mirror help" -f -a "mirror" -d 'Emulate storage mirroring from SRC (a send volume) to DST (the peer\'s receive volume)'
complete -c volnic -n "__fish_volnic_using_subcommand help; and not __fish_seen_subcommand_from format inspect demo bench keygen up status install uninstall list config mirror help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c volnic -n "__fish_volnic_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "get" -d 'Show an adapter\'s settings: all of them, or the KEYs named'
complete -c volnic -n "__fish_volnic_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "set" -d 'Change settings and restart the adapter so they take effect. Each KEY=VALUE is checked against the INF\'s ranges; KEY= removes an optional value (numbers then take their default)'
