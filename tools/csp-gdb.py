"""csp-gdb.py -- gdb support for csp.h's goroutines.

Load it in gdb (a -g build of a program that uses csp.h; a live process or a
core file, x86-64 or AArch64):

    (gdb) source tools/csp-gdb.py

Commands:

    info goroutines
        One line per goroutine: id, name, state, wait reason and for how long
        (the wait began at a tick of sysmon's coarse clock; a core's "now" is
        its last tick), the gdb thread it is on (a `*` in the first column
        marks the goroutines that are on a thread right now) and where it is:
        the first frame outside csp.h, with the csp.h function it called in
        brackets. A goroutine that has never run shows the function it will.

    goroutine N [COMMAND...]
        Run a gdb command (default: bt) on goroutine N's stack. A parked
        goroutine's frames are rebuilt from the registers its context switch
        saved, so this works on core files too; `goroutine 7 bt full`,
        `goroutine 7 info locals`, `goroutine 7 frame 3`, `goroutine 7 p x`.
        The goroutine's innermost frame is #1: gdb numbers the selected
        thread's own frame #0 and the filter hides it (and any frame inlined
        into it). A goroutine that is on a thread runs COMMAND on that thread.

    goroutine all [COMMAND...]
        The same for every goroutine, each under a `goroutine N "name"
        [state]:` header.

Core files: the kernel's core dumps have everything. A core written by gdb's
gcore on Linux 6.13+ lacks the goroutines' memory (gcore copies 1 MiB chunks
and drops each one that touches a kernel guard region, which csp.h puts below
every stack); run the program with CSP_GUARD_MODE=mprotect if you need gcore.
The script then says so instead of listing garbage.

Tested by tests/gdb/run.sh (make test-gdb) with gdb 13: live, kernel core,
gcore, and AArch64 under qemu-aarch64's gdbstub with gdb-multiarch.

How: the goroutines are on csp__sched.gl and each P's gl (linked by allnext). A parked
goroutine's csp__g.ctx.sp points at the frame csp__switch pushed (x86-64:
MXCSR/x87 word, r15, r14, r13, r12, rbx, rbp, return address; AArch64:
x19..x28, x29, x30, d8..d15, FPCR). While a command runs, a Python unwinder
claims the selected thread's innermost frame and gives it the goroutine's
saved registers as its caller's, and a frame filter hides that frame;
nothing is written to the inferior. Unwinding ends at csp__tramp, whose CFI
marks the return address undefined.
"""

import re
import struct
import time

import gdb
import gdb.unwinder

# ---- the runtime's data -------------------------------------------------------

# csp.h's CSP__G_* and CSP__GF_* values.
_STATUS = {0: "idle", 1: "runnable", 2: "running", 3: "waiting", 4: "dead"}
_G_WAITING = 3
_G_DEAD = 4
_GF_NATIVE = 1

# Where csp__switch leaves each callee-saved register, from the saved stack
# pointer up, and how far the stack pointer is above it once csp__switch has
# returned. "pc" is the return address.
_ARCH = {
    "x86-64": {
        "sp": "rsp", "pc": "rip", "frame": 64,
        "slots": [("r15", 8), ("r14", 16), ("r13", 24), ("r12", 32),
                  ("rbx", 40), ("rbp", 48), ("rip", 56)],
    },
    "aarch64": {
        "sp": "sp", "pc": "pc", "frame": 176,
        "slots": [("x19", 0), ("x20", 8), ("x21", 16), ("x22", 24), ("x23", 32),
                  ("x24", 40), ("x25", 48), ("x26", 56), ("x27", 64), ("x28", 72),
                  ("x29", 80), ("x30", 88), ("pc", 88)],
    },
}


class CspError(gdb.GdbError):
    pass


def _arch():
    try:
        name = gdb.selected_frame().architecture().name()
    except gdb.error:
        name = gdb.selected_inferior().architecture().name()
    if "x86-64" in name or "x86_64" in name:
        return "x86-64"
    if "aarch64" in name:
        return "aarch64"
    raise CspError("csp-gdb: architecture %s is not supported (x86-64 and AArch64 are)" % name)


def _sched():
    sym = None
    try:
        sym = gdb.lookup_static_symbol("csp__sched")
    except (AttributeError, gdb.error):
        pass
    try:
        return sym.value() if sym is not None else gdb.parse_and_eval("csp__sched")
    except gdb.error:
        raise CspError("csp-gdb: no csp__sched here: is this a -g build of a program "
                       "that includes csp.h (with CSP_IMPLEMENTATION)?")


def _u64(addr):
    mem = gdb.selected_inferior().read_memory(addr, 8)
    return struct.unpack("<Q", bytes(mem))[0]


def _cstring(v):
    try:
        if int(v) == 0:
            return ""
        return v.string(errors="replace")
    except gdb.error:
        return "?"


class G:
    """One goroutine, read once from the inferior."""

    def __init__(self, v):
        self.addr = int(v)
        g = v.dereference()
        self.id = int(g["id"])
        self.flags = int(g["flags"])
        self.status = int(g["status"])
        self.name = _cstring(g["name"].address.cast(gdb.lookup_type("char").pointer()))
        self.waitreason = _cstring(g["waitreason"])
        self.waitsince = int(g["waitsince"])
        self.sp = int(g["ctx"]["sp"])
        lo = int(g["stack_lo"])
        if self.flags & _GF_NATIVE:
            self.lo, self.hi = lo, lo + int(g["stack_size"])
        else:
            # The descriptor sits at the top of the reservation.
            resv = int(g["resv"])
            self.lo = min(lo, resv) if resv else lo
            self.hi = max(resv + int(g["resv_size"]), self.addr + g.type.sizeof)
        self.fn = int(g["fn"])
        self.thread = None   # the gdb thread running it, if any

    def state(self):
        return _STATUS.get(self.status, "status %d" % self.status)

    def saved_regs(self, arch):
        """The registers of the frame that called csp__switch, or None if the
        goroutine has never run (its saved frame still returns into
        csp__tramp)."""
        a = _ARCH[arch]
        regs = {}
        for name, off in a["slots"]:
            regs[name] = _u64(self.sp + off)
        regs[a["sp"]] = self.sp + a["frame"]
        return regs


def _glists(sched):
    """The goroutine lists: the global one, then each P's (csp__glist)."""
    yield sched["gl"]["head"]
    try:
        n = int(sched["nallp"])
    except gdb.error:
        n = 0
    for i in range(n):
        p = sched["allp"][i]
        if int(p) != 0:
            yield p.dereference()["gl"]["head"]


def goroutines():
    """Every goroutine on the runtime's lists (csp__sched.gl and each P's
    gl, linked by allnext), in id order."""
    sched = _sched()
    out, seen = [], set()
    for p in _glists(sched):
        while int(p) != 0 and int(p) not in seen:
            seen.add(int(p))
            try:
                g = G(p)
            except gdb.error:
                gdb.write("csp-gdb: cannot read the goroutine at %#x: the list ends here\n" % int(p))
                break
            if g.id == 0 and g.sp == 0 and not g.name:
                # A core written by gdb's gcore on Linux 6.13+: gcore copies memory
                # in 1 MiB chunks and drops every chunk that touches a kernel
                # guard region (csp.h's stack guards), so the descriptors read as 0.
                gdb.write("csp-gdb: the goroutine at %#x reads as zeros: this core lacks the "
                          "goroutines' memory (gcore drops memory next to kernel guard regions; "
                          "use a kernel core dump, or CSP_GUARD_MODE=mprotect when gcore is "
                          "needed)\n" % int(p))
                break
            if g.status != _G_DEAD:
                out.append(g)
            p = p.dereference()["allnext"]
    out.sort(key=lambda g: g.id)
    return out


def _coarse_now():
    """The runtime's clock (csp_now: CLOCK_MONOTONIC) now. A live process is on
    this machine (or under qemu-user here): read the clock. A core: the last
    tick of sysmon's coarse clock, the best there is."""
    try:
        now = int(_sched()["coarse_now"])
    except gdb.error:
        now = 0
    conn = getattr(gdb.selected_inferior(), "connection", None)
    ctype = getattr(conn, "type", None)
    if ctype in ("native", "remote", "extended-remote") and hasattr(time, "clock_gettime_ns"):
        now = max(now, time.clock_gettime_ns(time.CLOCK_MONOTONIC))
    return now


def _symbol_address(name):
    try:
        sym = gdb.lookup_global_symbol(name) or gdb.lookup_symbol(name)[0]
        if sym is not None:
            return int(sym.value().address)
    except (gdb.error, TypeError):
        pass
    try:
        return int(gdb.parse_and_eval("(unsigned long)&%s" % name))
    except gdb.error:
        return None


# ---- which goroutine runs on which thread ------------------------------------------

class _Selection:
    """Saves the selected thread and frame level; restores them."""

    def __enter__(self):
        self.thread = gdb.selected_thread()
        try:
            self.level = gdb.selected_frame().level()
        except gdb.error:
            self.level = None
        return self

    def __exit__(self, *exc):
        try:
            if self.thread is not None and self.thread.is_valid():
                self.thread.switch()
                if self.level is not None:
                    f = gdb.newest_frame()
                    while f is not None and f.level() < self.level:
                        f = f.older()
                    if f is not None:
                        f.select()
        except gdb.error:
            pass
        return False


def _innermost_sp(arch):
    return int(gdb.newest_frame().read_register(_ARCH[arch]["sp"]))


def map_threads(gs, arch):
    """Set g.thread for every goroutine that a thread is running now: the one
    whose stack holds the thread's stack pointer, else (a thread on its signal
    stack) the thread's csp__tls_v.cur."""
    byaddr = {g.addr: g for g in gs}
    inf = gdb.selected_inferior()
    with _Selection():
        for t in sorted(inf.threads(), key=lambda t: t.num):
            try:
                t.switch()
                sp = _innermost_sp(arch)
            except gdb.error:
                continue
            owner = None
            for g in gs:
                if g.lo <= sp < g.hi:
                    owner = g
                    break
            if owner is None:
                try:
                    cur = int(gdb.parse_and_eval("csp__tls_v.cur"))
                    owner = byaddr.get(cur)
                except gdb.error:
                    owner = None
            if owner is not None and owner.thread is None:
                owner.thread = t


# ---- presenting a parked goroutine's frames ---------------------------------------

class _FrameId:
    def __init__(self, sp, pc):
        self.sp = sp
        self.pc = pc


class _Target:
    def __init__(self, thread, level, regs, arch):
        self.ptid = thread.ptid
        self.level = level
        self.regs = regs
        self.arch = arch


class GoroutineUnwinder(gdb.unwinder.Unwinder):
    """While `target` is set: the frame at target.level of the selected
    thread (its innermost real frame) unwinds to the goroutine's saved
    registers instead of its real caller."""

    def __init__(self):
        super().__init__("csp-goroutine")
        self.target = None

    def __call__(self, pending_frame):
        t = self.target
        if t is None:
            return None
        try:
            if pending_frame.level() != t.level:
                return None
        except AttributeError:   # gdb < 11: no level(); only the innermost frame
            if t.level != 0:
                return None
        th = gdb.selected_thread()
        if th is None or th.ptid != t.ptid:
            return None
        arch = _ARCH[t.arch]
        spv = pending_frame.read_register(arch["sp"])
        pcv = pending_frame.read_register(arch["pc"])
        # The frame's id lies below the goroutine's frames, so that gdb sees
        # the stack growing the usual way.
        fid = _FrameId(gdb.Value(t.regs[arch["sp"]] - 16).cast(spv.type), pcv)
        info = pending_frame.create_unwind_info(fid)
        for name, value in t.regs.items():
            try:
                typ = pending_frame.read_register(name).type
                info.add_saved_register(name, gdb.Value(value).cast(typ))
            except (gdb.error, ValueError):
                pass
        return info


class GoroutineFrameFilter:
    """While the unwinder is active: hide the thread's own frames (the
    innermost one and those inlined into it)."""

    def __init__(self, unwinder):
        self.name = "csp-goroutine"
        self.priority = 100
        self.enabled = True
        self.unwinder = unwinder

    def filter(self, frames):
        t = self.unwinder.target
        if t is None:
            return frames
        return (d for d in frames if d.inferior_frame().level() > t.level)


_unwinder = GoroutineUnwinder()
gdb.unwinder.register_unwinder(None, _unwinder, replace=True)
gdb.frame_filters[_unwinder.name] = GoroutineFrameFilter(_unwinder)


def _stop_presenting(*_):
    if _unwinder.target is not None:
        _unwinder.target = None
        gdb.invalidate_cached_frames()


# Never leave the unwinder on across a resume or a new program. (Sourcing the
# script again replaces the handlers of the previous load.)
for _ev in (gdb.events.cont, gdb.events.exited, gdb.events.new_objfile):
    _old = getattr(gdb, "_csp_gdb_stop", None)
    if _old is not None:
        try:
            _ev.disconnect(_old)
        except Exception:
            pass
    _ev.connect(_stop_presenting)
gdb._csp_gdb_stop = _stop_presenting


class _OnGoroutine:
    """Context: the selected thread's frames #1... are goroutine g's."""

    def __init__(self, g, arch):
        self.g, self.arch = g, arch

    def __enter__(self):
        self.sel = _Selection().__enter__()
        regs = self.g.saved_regs(self.arch)
        _stop_presenting()
        # The innermost real frame: skip frames gdb shows inlined into it.
        f = gdb.newest_frame()
        while f.type() == gdb.INLINE_FRAME and f.older() is not None:
            f = f.older()
        _unwinder.target = _Target(gdb.selected_thread(), f.level(), regs, self.arch)
        gdb.invalidate_cached_frames()
        first = self.frame(0)
        if first is not None:
            first.select()
        return self

    def frame(self, n):
        """The goroutine's n-th frame (0: innermost), or None."""
        f = gdb.newest_frame()
        while f is not None and f.level() <= _unwinder.target.level:
            f = f.older()
        for _ in range(n):
            if f is None:
                break
            f = f.older()
        return f

    def __exit__(self, *exc):
        _stop_presenting()
        self.sel.__exit__(*exc)
        return False


# ---- where a goroutine is ----------------------------------------------------------

_RUNTIME_FILE = re.compile(r"(^|/)csp\.h$")


def _frame_desc(f):
    name = f.name() or "??"
    sal = f.find_sal()
    where = name
    if sal.symtab is not None and sal.line:
        where += " at %s:%d" % (sal.symtab.filename, sal.line)
    elif f.pc():
        where += " (%#x)" % f.pc()
    return where


def _is_runtime(f):
    sal = f.find_sal()
    if sal.symtab is not None:
        return bool(_RUNTIME_FILE.search(sal.symtab.filename))
    name = f.name() or ""
    return name.startswith("csp_")


def _where_from(f, limit=64):
    """The first frame outside csp.h from f outwards, and the csp.h function
    it called."""
    first, api = None, None
    n = 0
    while f is not None and n < limit:
        if not _is_runtime(f):
            return _frame_desc(f) + (" [%s]" % api if api else "")
        if first is None:
            first = f
        api = f.name()
        try:
            f = f.older()
        except gdb.error:
            break
        n += 1
    return _frame_desc(first) if first is not None else "?"


def where(g, arch, tramp):
    try:
        if g.thread is not None:
            with _Selection():
                g.thread.switch()
                return _where_from(gdb.newest_frame())
        regs = g.saved_regs(arch)
        if tramp is not None and regs[_ARCH[arch]["pc"]] == tramp:
            return "not started: %s" % _symbol_name(g.fn)
        with _OnGoroutine(g, arch) as on:
            return _where_from(on.frame(0))
    except gdb.error as e:
        return "? (%s)" % e


def _symbol_name(addr):
    try:
        b = gdb.block_for_pc(addr)
        if b is not None and b.function is not None:
            return b.function.print_name
    except (gdb.error, RuntimeError):
        pass
    return "%#x" % addr


def _wait_desc(g, now):
    if g.status != _G_WAITING:
        return ""
    s = g.waitreason or "?"
    if g.waitsince > 0 and now > g.waitsince:
        ms = (now - g.waitsince) // 1000000
        s += ", %d ms" % ms if ms < 60000 else ", %d min" % (ms // 60000)
    return s


def _header(g, now):
    state = _wait_desc(g, now) or g.state()
    name = ' "%s"' % g.name if g.name else ""
    on = " on thread %d" % g.thread.num if g.thread is not None else ""
    return "goroutine %d%s [%s]%s:" % (g.id, name, state, on)


# ---- commands ----------------------------------------------------------------------

def _clean_errors(invoke):
    """A core that lacks the runtime's memory gives one clear line, not a
    Python traceback."""
    def wrapped(self, arg, from_tty):
        try:
            return invoke(self, arg, from_tty)
        except gdb.MemoryError as e:
            raise CspError("csp-gdb: cannot read the runtime's memory (%s): a core file "
                           "without the process's data?" % e)
    wrapped.__doc__ = invoke.__doc__
    return wrapped


def _need_process():
    inf = gdb.selected_inferior()
    if inf is None or not inf.threads():
        raise CspError("csp-gdb: no process or core file")


class InfoGoroutines(gdb.Command):
    """List csp.h's goroutines: id, name, state, wait reason, thread, where.

A `*` marks the goroutines that are on a thread now (Thread: gdb's thread
number). Where: the goroutine's first frame outside csp.h, [the csp.h
function it called]."""

    def __init__(self):
        super().__init__("info goroutines", gdb.COMMAND_STACK)

    @_clean_errors
    def invoke(self, arg, from_tty):
        _need_process()
        arch = _arch()
        gs = goroutines()
        map_threads(gs, arch)
        now = _coarse_now()
        tramp = _symbol_address("csp__tramp")
        if not gs:
            gdb.write("no goroutines (the runtime has not started)\n")
            return
        rows = []
        for g in gs:
            rows.append(("*" if g.thread is not None else " ", str(g.id), g.name, g.state(),
                         _wait_desc(g, now), str(g.thread.num) if g.thread is not None else "",
                         where(g, arch, tramp)))
        head = (" ", "Id", "Name", "State", "Wait reason", "Thread", "Where")
        widths = [max(len(r[i]) for r in rows + [head]) for i in range(6)]
        for r in [head] + rows:
            line = "  ".join(r[i].ljust(widths[i]) for i in range(6)) + "  " + r[6]
            gdb.write(line.rstrip() + "\n")
        gdb.write("%d goroutines\n" % len(gs))


class GoroutineCmd(gdb.Command):
    """Run a gdb command on a goroutine's stack: goroutine N|all [COMMAND] (default bt).

A parked goroutine's frames are rebuilt from its saved registers (live process
or core file); its innermost frame is #1. A goroutine on a thread runs the
command on that thread."""

    def __init__(self):
        super().__init__("goroutine", gdb.COMMAND_STACK)

    @_clean_errors
    def invoke(self, arg, from_tty):
        _need_process()
        argv = arg.split(None, 1)
        if not argv:
            raise CspError("usage: goroutine N|all [COMMAND...]")
        cmd = argv[1] if len(argv) > 1 else "bt"
        arch = _arch()
        gs = goroutines()
        if argv[0] == "all":
            chosen = gs
        else:
            try:
                gid = int(argv[0], 0)
            except ValueError:
                raise CspError("goroutine: %r is not a goroutine id" % argv[0])
            chosen = [g for g in gs if g.id == gid]
            if not chosen:
                raise CspError("goroutine: no goroutine %d" % gid)
        map_threads(gs, arch)
        now = _coarse_now()
        tramp = _symbol_address("csp__tramp")
        for i, g in enumerate(chosen):
            gdb.write(("\n" if i else "") + _header(g, now) + "\n")
            self.run_on(g, cmd, arch, tramp, from_tty)

    def run_on(self, g, cmd, arch, tramp, from_tty):
        if g.thread is not None:
            with _Selection():
                g.thread.switch()
                gdb.execute(cmd, from_tty)
            return
        regs = g.saved_regs(arch)
        if tramp is not None and regs[_ARCH[arch]["pc"]] == tramp:
            gdb.write("goroutine %d has not started yet: it will run %s\n" % (g.id, _symbol_name(g.fn)))
            return
        with _OnGoroutine(g, arch):
            gdb.execute(cmd, from_tty)


InfoGoroutines()
GoroutineCmd()
