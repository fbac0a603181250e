/**
 * Process runtime driver: runs stdio MCP servers as child processes of Berth.
 *
 * ADR: sandboxing and lifetime of server processes
 *
 * Context. The default runtime must work on one machine without a container engine, yet a server
 * is third-party code that receives secrets in its environment. We want it to see as little of the
 * host as practical, without root-only machinery and without breaking `npx`-style servers.
 *
 * Decisions.
 * - bubblewrap (`bwrap`) wraps the command when present (`sandbox: 'auto'`, or required with
 *   `'bubblewrap'`). Visible: /usr, /etc, /bin, /sbin, /lib* read-only (merged-/usr symlinks are
 *   recreated as symlinks), the Node installation and the command's own dir read-only when they are
 *   outside /usr, a fresh tmpfs /tmp, a new /proc and a minimal /dev. Writable: only the working
 *   directory and the per-deployment HOME. Everything else (other deployments' dirs, Berth's data
 *   dir, /root, /home, /var, /run) is absent. /etc/shadow, /etc/gshadow and /etc/sudoers are masked
 *   with /dev/null.
 * - `--cap-drop ALL`: when Berth runs as root, bwrap would otherwise hand the server nearly every
 *   capability; bwrap also sets no_new_privs, so setuid binaries gain nothing.
 * - Namespaces: pid, ipc and uts are unshared (the server cannot see or signal host processes).
 *   The network is kept: servers such as `npx …` need the npm registry and most servers call APIs.
 *   Network isolation belongs to the container/kubernetes drivers. The user namespace is not
 *   unshared, so file ownership inside the work dirs stays that of Berth's user.
 * - `--new-session` is not used: it would move the server out of our process group, and with it out
 *   of reach of group signals; the TIOCSTI attack it prevents needs a terminal, and our stdio are
 *   pipes. `--die-with-parent` is used: if Berth dies, bwrap and the server die with it.
 * - HOME is `${dataDir}/work/<deploymentId>/home` (always in the sandbox, by default without it):
 *   writable, private to the deployment, persistent across restarts, so npm's cache (`~/.npm`)
 *   makes the second `npx` start work from the cache. The user's own npm cache is not shared: one
 *   deployment must not be able to plant packages another one runs.
 * - Environment: exactly the request's env; PATH (Node's dir + the standard system dirs) and HOME
 *   are added only when absent (HOME is always the private one in the sandbox).
 * - Limits: `prlimit` (util-linux) in front of the command sets RLIMIT_NOFILE, RLIMIT_NPROC and
 *   RLIMIT_AS (memoryMb; address space, not RSS, so leave room: Node wants ~1 GiB). cgroups would
 *   be more precise but need delegation that this machine class does not offer. RLIMIT_NPROC is
 *   per user and not enforced for root.
 * - Lifetime: every child leads its own process group (spawned detached, not unref'd); stop sends
 *   SIGTERM, then SIGKILL to the group after the grace. With bubblewrap, SIGTERM goes to the
 *   server's processes but not to bwrap (bwrap dies on SIGTERM and would SIGKILL the server at
 *   once). Without bubblewrap Node cannot make the child die with Berth (no prctl), so each launch
 *   writes `${dataDir}/run/<id>.<key>.pid` (pid + start time from /proc) and `reapOrphans()` ends
 *   leftovers at the next start; the start time guards against a reused pid.
 *
 * Not covered: seccomp filters, a different uid (when Berth runs as root the server is uid 0 without
 * capabilities, so root-owned readable files under /etc and /usr are readable),
 * network isolation, CPU limits, and memory limits by RSS.
 */
export { LaunchError, ProcessRuntime, type LimitsMode, type ProcessRuntimeOptions, type SandboxMode } from './runtime.js';
export { DEFAULT_MAX_LIMITS, DEFAULT_SERVER_LIMITS } from './policy.js';
