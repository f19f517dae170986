"""vm.conf: what each test of a directory needs from the QEMU VM it runs in.

Every directory of tests (tools/testing/selftests/kho/, .../liveupdate/,
.../kvm/kho/, .../iommu/kho/, bench/, demo/) has one vm.conf, with one line
per test:

    NAME [KEY=VALUE]...

NAME is the test's file name without .sh or .c. The keys, all optional:

    mem=SIZE       guest RAM, as QEMU's -m takes it          (default 1G)
    debug_mem=SIZE guest RAM on the debug kernel (default: twice mem,
                   for KASAN's shadow and quarantine); for a test that
                   needs a given memory layout
    smp=N          number of CPUs                            (default 2)
    timeout=SEC    kill the VM after SEC s      (default: the runner's)
    variants=V,..  also run the test as NAME@V for each V; kexec-tools:
                   every kexec with Debian's kexec -s -l + kexec -e;
                   prod: every stage on the production-shaped kernel
                   (configs/prod.config); cross: stages alternate test ->
                   prod -> test...; any other V: the test's own,
                   kho_variant=V is added to its command line
    cmdline="..."  added to the kernel command line
    qemu="..."     further QEMU options: devices, or a -machine with
                   options, which replaces the default -machine q35

Values are quoted as in the shell, `#` starts a comment, and a line ending
in a backslash goes on on the next one. For example:

    kho_basic      mem=2G variants=kexec-tools cmdline="kho=on"
    vtd_handover   mem=2G cmdline="kho=on intel_iommu=on" \\
                   qemu="-machine q35,kernel-irqchip=split \\
                         -device intel-iommu,intremap=on -device edu"

The runner reads a directory's vm.conf for the tests it is given from it;
a test without an entry, an entry without a test, and a test that still
carries a `kho-test:` comment (where these settings used to be) are errors.
"""
import os
import shlex

FILE = "vm.conf"
KEYS = {"mem": "1G", "debug_mem": None, "smp": "2", "timeout": None,
        "variants": "", "cmdline": "", "qemu": ""}
SOURCE_EXTS = (".sh", ".c", ".py")


class Error(Exception):
    pass


def logical_lines(path):
    """(line number, text) of each entry, continuations joined."""
    with open(path) as f:
        pending, first = "", 0
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not pending:
                first = n
            if line.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1] + " "
                continue
            yield first, pending + line
            pending = ""
        if pending:
            yield first, pending


def parse_entry(words, where):
    entry = dict(KEYS)
    for word in words:
        key, eq, value = word.partition("=")
        if not eq or key not in KEYS:
            raise Error(f"{where}: '{word}' is not one of "
                        f"{', '.join(k + '=' for k in KEYS)}")
        entry[key] = value
    for key in ("mem", "debug_mem"):
        size = entry[key]
        if size is not None and (size[-1:] not in ("M", "G") or
                                 not size[:-1].isdigit()):
            raise Error(f"{where}: {key}={size}: expected a size such as 512M or 2G")
    for key in ("smp", "timeout"):
        if entry[key] is not None and not entry[key].isdigit():
            raise Error(f"{where}: {key}={entry[key]}: expected a number")
    entry["variants"] = [v for v in entry["variants"].split(",") if v]
    entry["qemu"] = shlex.split(entry["qemu"])
    return entry


def load(directory):
    """The entries of DIRECTORY/vm.conf, {name: entry}, and its problems.

    A problem is a line that does not parse, a test listed twice, or a test
    whose source (NAME.sh or NAME.c) is not in the directory.
    """
    path = os.path.join(directory, FILE)
    if not os.path.exists(path):
        return {}, [f"{path}: missing: every test directory says there "
                    "what its tests need from QEMU"]
    entries, problems = {}, []
    for n, text in logical_lines(path):
        where = f"{path}:{n}"
        try:
            words = shlex.split(text, comments=True)
            if not words:
                continue
            name = words[0]
            if name in entries:
                raise Error(f"{where}: {name} is listed twice")
            if not any(os.path.exists(os.path.join(directory, name + ext))
                       for ext in SOURCE_EXTS):
                raise Error(f"{where}: {name}: no {name}.sh, .c or .py in "
                            f"{directory}")
            entries[name] = parse_entry(words[1:], where)
        except ValueError as e:
            problems.append(f"{where}: {e}")
        except Error as e:
            problems.append(str(e))
    return entries, problems


def test_name(path):
    return os.path.splitext(os.path.basename(path))[0]


def lookup(paths):
    """The vm.conf entry of each test source in PATHS, in order.

    Returns [(path, name, entry)] and a list of problems: those of the
    vm.conf files read, a source without an entry, a source that still
    has a kho-test: comment.
    """
    confs, found, problems = {}, [], []
    for path in paths:
        directory = os.path.dirname(path) or "."
        conf = os.path.join(directory, FILE)
        if directory not in confs:
            confs[directory], more = load(directory)
            problems += more
        with open(path, errors="replace") as f:
            if any("kho-test:" in line for line in f.readlines()[:40]):
                problems.append(f"{path}: a kho-test: comment: what a test "
                                f"needs from QEMU is set in {conf} now")
        name = test_name(path)
        if name in confs[directory]:
            found.append((path, name, confs[directory][name]))
        elif os.path.exists(conf):
            problems.append(f"{path}: no entry for {name} in {conf}")
    return found, problems
