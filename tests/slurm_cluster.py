"""A real one-node SLURM cluster on this machine, for the tests (root only; Debian's packages)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

PACKAGES = ["slurmctld", "slurmd", "slurm-client"]
CONF = Path("/etc/slurm")


def why_not() -> str | None:
    """The reason a cluster cannot be started here, or None."""
    if os.geteuid() != 0:
        return "starting a SLURM cluster needs root"
    if shutil.which("slurmctld") is None and shutil.which("apt-get") is None:
        return "SLURM is not installed and apt-get is not available to install it"
    if subprocess.run(["pgrep", "-x", "slurmctld"], capture_output=True).returncode == 0:
        return "a slurmctld is already running on this machine; not touching it"
    return None


def install() -> None:
    if shutil.which("slurmctld") and shutil.which("slurmd") and shutil.which("sbatch"):
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, capture_output=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES], check=True, env=env,
                   capture_output=True)


def node_line() -> str:
    line = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True).stdout.splitlines()[0]
    return line  # NodeName=<host> CPUs=... RealMemory=... as slurmd sees them (hand-written counts drain the node)


class Cluster:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.host = socket.gethostname().split(".")[0]

    def start(self) -> None:
        install()
        for folder in (CONF, self.workdir / "state", self.workdir / "spool", self.workdir / "log"):
            folder.mkdir(parents=True, exist_ok=True)
        node = node_line()
        memory = int(node.split("RealMemory=")[1].split()[0])
        node = node.replace(f"RealMemory={memory}", f"RealMemory={memory - 512}")
        (CONF / "slurm.conf").write_text(f"""
ClusterName=stsegtest
SlurmctldHost={self.host}
AuthType=auth/none
CredType=cred/none
SlurmUser=root
SlurmdUser=root
StateSaveLocation={self.workdir / 'state'}
SlurmdSpoolDir={self.workdir / 'spool'}
SlurmctldPidFile={self.workdir / 'slurmctld.pid'}
SlurmdPidFile={self.workdir / 'slurmd.pid'}
SlurmctldLogFile={self.workdir / 'log' / 'slurmctld.log'}
SlurmdLogFile={self.workdir / 'log' / 'slurmd.log'}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
GresTypes=gpu
ReturnToService=2
MinJobAge=3600
{node} Gres=gpu:1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
""")
        (CONF / "gres.conf").write_text(f"NodeName={self.host} Name=gpu File=/dev/null\n")
        subprocess.run(["slurmctld"], check=True)
        subprocess.run(["slurmd"], check=True)
        deadline = time.time() + 60
        while time.time() < deadline:
            state = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True).stdout.strip()
            if state in ("idle", "mixed"):
                return
            time.sleep(0.5)
        raise RuntimeError(f"the SLURM node did not come up (state {state!r}); see {self.workdir / 'log'}")

    def jobs(self) -> list[str]:
        """`scontrol show jobs -o`: one line per job the controller remembers."""
        return subprocess.run(["scontrol", "show", "jobs", "-o"], capture_output=True, text=True).stdout.splitlines()

    def stop(self) -> None:
        subprocess.run(["scontrol", "shutdown"], capture_output=True)
        for daemon in ("slurmd", "slurmctld"):
            subprocess.run(["pkill", "-x", daemon], capture_output=True)
        deadline = time.time() + 20
        while time.time() < deadline and subprocess.run(["pgrep", "-x", "slurmctld|slurmd"], capture_output=True).returncode == 0:
            time.sleep(0.2)
        for name in ("slurm.conf", "gres.conf"):
            (CONF / name).unlink(missing_ok=True)
