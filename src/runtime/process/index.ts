/**
 * Process runtime driver: runs stdio MCP servers as child processes of Berth.
 *
 * ADR: sandboxing, network, mounts, limits and lifetime of server processes
 *
 * Context. The default runtime must work on one machine without a container engine, yet a server
 * is third-party code that receives secrets in its environment. Berth runs as root on this machine
 * class. An attacker's review found a hosted server could reach Berth's API and other servers on the
 * host's loopback, read Berth's database with `cwd: "/"`, and use unbounded memory, processes and CPU.
 *
 * Decisions.
 * - bubblewrap (`bwrap`) wraps the command when present (`sandbox: 'auto'`, or required with
 *   `'bubblewrap'`). Visible: /usr, /etc, /bin, /sbin, /lib* read-only (merged-/usr symlinks are
 *   recreated as symlinks), the Node installation and the command's own dir read-only when they are
 *   outside /usr, a fresh tmpfs /tmp, a new /proc and a minimal /dev. Writable: the working
 *   directory and the per-deployment HOME; extra mounts (spec.mounts) read-only unless `rw`.
 *   Everything else (other deployments' dirs, Berth's data dir, /root, /home, /var, /run) is absent.
 *   /etc/shadow, /etc/gshadow and /etc/sudoers are masked with /dev/null.
 * - `--cap-drop ALL`: when Berth runs as root, bwrap would otherwise hand the server nearly every
 *   capability; bwrap also sets no_new_privs, so setuid binaries gain nothing. Without
 *   CAP_NET_ADMIN the server cannot change its namespace's routes.
 * - Namespaces: pid, ipc, uts and net are unshared. The user namespace is not, so file ownership in
 *   the work dirs stays that of Berth's user.
 * - Network (spec.network, ./network.ts): `egress` (default): the namespace is made by `unshare
 *   --net` in front of bwrap; bwrap reports the sandbox pid (--info-fd) and holds the command
 *   (--block-fd) while slirp4netns (user-mode NAT, `--disable-host-loopback`, its own sandbox and
 *   seccomp) attaches a tap device and `nsenter … ip -batch` installs "prohibit" routes for slirp's
 *   gateway, the non-public IPv4 ranges (RFC 6890: 10/8, 172.16/12, 192.168/16, 100.64/10,
 *   169.254/16, …) and the host's own addresses and networks; then the command runs. So the
 *   internet is reachable, Berth and other servers are not, whether on 127.0.0.1 (the sandbox's own
 *   loopback), through the gateway, or on the host's LAN addresses. DNS goes to slirp's forwarder (a
 *   resolv.conf naming it is bound over the sandbox's). No IPv6 route exists. The helper dies with
 *   its server (stopped on exit) and with Berth (its --exit-fd is a socket Berth holds). Cost: about
 *   30–60 ms per start here. `none`: bwrap's --unshare-net, loopback only. `host`: the host's
 *   network, refused unless the operator sets BERTH_SANDBOX_HOST_NETWORK=allow.
 * - Mounts (./mounts.ts): cwd and spec.mounts must lie under BERTH_MOUNT_ROOTS (default none: a
 *   server gets only its own work folder) and must not be "/" or overlap Berth's data dir, database
 *   or key file (equal, above or below). Checked at deploy (`admit`, API 400 MOUNT_NOT_ALLOWED) and
 *   again at launch, after resolving symlinks; at launch the path is opened, the descriptor's target
 *   re-checked, and bwrap binds the descriptor (--bind-fd), so a symlink swapped in after the check
 *   binds nothing new. A HOME that a server replaced by a symlink is recreated as a folder.
 * - Limits (./cgroups.ts): memory (default 512 MiB), pids (256) and CPU (1 core) per server process,
 *   from the spec within operator maximums. Each process gets its own cgroup, joined by a tiny `sh`
 *   in front of everything (`echo $$ > cgroup.procs; exec …`), so the server is inside before it
 *   can fork. cgroup v1 (this machine class): a group per hierarchy, nested under Berth's own; v2: one
 *   group under `<root>/berth-<scope>` (v2 forbids controllers below Berth's own group, which holds
 *   Berth). The group is removed after exit (what is left inside is killed first), and
 *   `reapOrphans` removes groups a crashed Berth left. An OOM kill is read from memory.oom_control
 *   (v1) / memory.events (v2) before removal and becomes ExitInfo.reason ("out of memory: killed at
 *   the 512 MiB limit"), which the bridge and reconciler carry to logs, status_message and
 *   last_exit. Without writable cgroups, `prlimit` is the fallback (memory as RLIMIT_DATA, which,
 *   unlike RLIMIT_AS, leaves Node's address-space reservations alone; RLIMIT_NPROC, which root
 *   ignores; no CPU limit) and status lists what is not enforced.
 * - `--new-session` is not used: it would move the server out of our process group, and with it out
 *   of reach of group signals; the TIOCSTI attack it prevents needs a terminal, and our stdio are
 *   pipes. `--die-with-parent` is used: if Berth dies, bwrap and the server die with it.
 * - HOME is `${dataDir}/work/<deploymentId>/home` (always in the sandbox, by default without it):
 *   writable, private to the deployment, persistent across restarts, so npm's cache (`~/.npm`)
 *   makes the second `npx` start work from the cache. The user's own npm cache is not shared: one
 *   deployment must not be able to plant packages another one runs.
 * - Environment: exactly the request's env; PATH (Node's dir + the standard system dirs) and HOME
 *   are added only when absent (HOME is always the private one in the sandbox).
 * - Lifetime: every child leads its own process group (spawned detached, not unref'd); stop sends
 *   SIGTERM, then SIGKILL to the group after the grace. With bubblewrap, SIGTERM goes to the
 *   server's processes but not to bwrap (bwrap dies on SIGTERM and would SIGKILL the server at
 *   once). Without bubblewrap Node cannot make the child die with Berth (no prctl), so each launch
 *   writes `${dataDir}/run/<id>.<key>.pid` (pid + start time from /proc) and `reapOrphans()` ends
 *   leftovers at the next start; the start time guards against a reused pid.
 * - With BERTH_SANDBOX=none (or no bwrap) none of the network or mount isolation applies: Berth warns
 *   at start (`notices()`) and every status says so; limits still apply.
 *
 * Not covered: seccomp filters for the server, a different uid (as root the server is uid 0 without
 * capabilities, so root-owned readable files under /etc and /usr are readable), IPv6 egress, an
 * allow-list for private addresses a server legitimately needs (a proxy on the LAN), a public address
 * that hairpins back to the host through a NAT the host cannot see, and cgroup v2 delegation below
 * Berth's own group (v2 was not available to test here; its file writes are tested on a simulated tree).
 */
export { LaunchError, ProcessRuntime, type FoundProcess, type LimitsMode, type ProcessRuntimeOptions, type SandboxMode } from './runtime.js';
export { ProcessWorkloads, type ProcessWorkloadsOptions } from './workloads.js';
export { spawnPlain, type PlainLaunch } from './plain.js';
