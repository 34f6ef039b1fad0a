"""ssh hosts as targets: the manifest field, the target key, the ssh argv and its quoting,
and how ssh's failures are told apart from tmux's (never "confidently empty")."""

from __future__ import annotations

import json
import shlex
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agenttower.model.desired import resolve
from agenttower.model.errors import AgentTowerError
from agenttower.model.manifests import parse_text
from agenttower.model.resolved import Target
from agenttower.runtime import ssh
from agenttower.runtime.observe import ListingStatus
from agenttower.runtime.quoting import pipe_to_file
from agenttower.runtime.target import ExecTarget
from tests.manifests import layout


def _target(**target: object) -> Target:
    desired = resolve(parse_text(json.dumps(layout("l", target=target)), "m.yaml"))
    return desired.layouts["l"].target


def _error(**target: object) -> AgentTowerError:
    with pytest.raises(AgentTowerError) as info:
        _target(**target)
    return info.value


def test_host_user_and_port_make_an_ssh_target_key() -> None:
    assert _target(host="build-box").key == "ssh:build-box"
    assert _target(host="10.0.0.7", user="dev", port=2222).key == "ssh:dev@10.0.0.7:2222"
    assert _target(host="b", socket="team").key == "ssh:b#team"
    assert _target(host="b", socketPath="/tmp/t/s").key == "ssh:b#/tmp/t/s"


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ({"port": 22}, "port needs host"),
        ({"host": "b", "logMount": {"containerPath": "/l", "hostPath": "/l"}}, "logMount"),
        ({"host": "b", "container": "c", "logMount": {"containerPath": "/l", "hostPath": "/l"}}, "logMount"),
        ({"host": "dev@b", "container": "c"}, "ssh config's User"),
        ({"host": "b", "user": "-oProxyCommand=x"}, "ssh login"),
    ],
)
def test_invalid_ssh_targets_are_refused_with_their_field(target: dict[str, object], reason: str) -> None:
    err = _error(**target)
    assert err.code == "validation_failed"
    assert reason in err.details["reason"]


@pytest.mark.parametrize("host", ["-oProxyCommand=touch /tmp/x", ".hidden", "a b", ""])
def test_a_host_that_ssh_could_read_as_an_option_is_refused(host: str) -> None:
    assert _error(host=host).code == "validation_failed"


def test_port_is_bounded() -> None:
    assert _error(host="b", port=0).code == "validation_failed"
    assert _error(host="b", port=65536).code == "validation_failed"


_names = st.text(st.sampled_from("abz09_.-"), min_size=1, max_size=12).filter(lambda s: s[0] not in ".-")


@given(
    host=_names,
    user=st.none() | _names,
    port=st.none() | st.integers(1, 65535),
    socket=st.none() | _names | st.just("/tmp/x/s"),
    container=_names,
)
def test_a_key_rebuilds_its_target(
    host: str, user: str | None, port: int | None, socket: str | None, container: str
) -> None:
    sockets = (
        {} if socket is None else {"socket_path": socket} if socket.startswith("/") else {"socket": socket}
    )
    target = Target(host=host, user=user, port=port, **sockets)  # type: ignore[arg-type]
    assert Target.of_key(target.key) == target
    boxed = Target(host=host, port=port, container=container)  # its key holds no user, no socket
    assert Target.of_key(boxed.key) == boxed


def test_a_socket_path_that_looks_like_a_container_stays_a_socket() -> None:
    target = Target(host="b", socket_path="/container:x")
    assert target.key == "ssh:b#/container:x" and Target.of_key(target.key) == target


def test_the_ssh_argv_is_batch_mode_multiplexed_and_quoted_per_word(monkeypatch: pytest.MonkeyPatch) -> None:
    short = Path(tempfile.mkdtemp(prefix="at-", dir="/tmp"))  # a socket path must stay short
    monkeypatch.setenv("AGENTTOWER_STATE_DIR", str(short / "s"))
    monkeypatch.setenv("AGENTTOWER_SSH", "/opt/ssh")
    exec_target = ExecTarget(Target(host="box", user="dev", port=2200, socket="team"))
    argv = exec_target.argv("new-session", "-s", 'it\'s a "label"', ";", "list-panes")
    assert argv[0] == "/opt/ssh"
    options = dict(argv[i + 1].split("=", 1) for i, word in enumerate(argv) if word == "-o")
    assert options["BatchMode"] == "yes"
    assert options["ControlMaster"] == "auto"
    assert options["ControlPath"].startswith(str(short / "s" / "ssh"))
    shutil.rmtree(short)
    assert "ControlPersist" in options
    assert argv[argv.index("-l") + 1] == "dev" and argv[argv.index("-p") + 1] == "2200"
    assert argv[-3:-1] == ["--", "box"]
    # the remote shell splits the last word back into exactly the words we meant
    assert shlex.split(argv[-1]) == [
        "tmux",
        "-u",
        "-L",
        "team",
        "new-session",
        "-s",
        'it\'s a "label"',
        ";",
        "list-panes",
    ]
    assert exec_target.program == "/opt/ssh"


def test_a_deep_state_dir_puts_control_sockets_in_a_short_dir(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 90)
    path = ssh.control_path(Target(host="box"), deep)
    assert not path.startswith(str(deep))
    assert len(path) + 17 <= ssh.SOCKET_LIMIT + 17 and Path(path).parent.is_dir()
    assert ssh.control_path(Target(host="box"), deep) == path  # stable: one master per destination
    assert ssh.control_path(Target(host="other"), deep) != path
    shutil.rmtree(Path(path).parent)


@pytest.mark.parametrize(
    ("stderr", "failure"),
    [
        ("ssh: connect to host 127.0.0.1 port 2222: Connection refused", ssh.SshFailure.UNREACHABLE),
        ("ssh: Could not resolve hostname nope: Name or service not known", ssh.SshFailure.UNREACHABLE),
        ("dev@box: Permission denied (publickey).", ssh.SshFailure.AUTH_REFUSED),
        ("Host key verification failed.", ssh.SshFailure.HOST_KEY),
        (
            "@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@\nPermission denied (publickey).",
            ssh.SshFailure.HOST_KEY,
        ),
        ("Connection to box closed by remote host.", ssh.SshFailure.DROPPED),
        ("client_loop: send disconnect: Broken pipe", ssh.SshFailure.DROPPED),
        ("something new", ssh.SshFailure.UNKNOWN),
    ],
)
def test_ssh_failures_are_classified(stderr: str, failure: ssh.SshFailure) -> None:
    assert ssh.failure(ssh.SSH_FAILED, stderr) is failure
    assert failure.transient == (failure in (ssh.SshFailure.UNREACHABLE, ssh.SshFailure.DROPPED))


def test_a_refused_connection_is_indeterminate_not_tmuxs_empty_server() -> None:
    """tmux's "connection refused" means no server (empty); ssh's means no host: unknown."""
    from agenttower.runtime.observe import classify_failure, ssh_failed

    words = "ssh: connect to host box port 22: Connection refused"
    assert classify_failure("host", words).status is ListingStatus.EMPTY
    failure = ssh.failure(ssh.SSH_FAILED, words)
    assert failure is not None
    listing = ssh_failed("ssh:box", failure, words)
    assert listing.status is ListingStatus.INDETERMINATE and listing.transient
    assert listing.ssh_failure is ssh.SshFailure.UNREACHABLE


def test_tmux_answering_through_ssh_is_tmuxs_failure() -> None:
    assert ssh.failure(1, "no server running on /tmp/tmux-0/default") is None
    assert ssh.failure(127, "bash: line 1: tmux: command not found") is ssh.SshFailure.TMUX_MISSING


def test_a_home_relative_log_path_expands_in_the_pipe() -> None:
    command = pipe_to_file("~/logs/it's/x.log", make_dir=True)
    assert command == "mkdir -p \"$HOME\"/'logs/it'\"'\"'s' && exec cat >> \"$HOME\"/'logs/it'\"'\"'s/x.log'"


# ---- a container on an ssh host -------------------------------------------------------------

BOXED = """apiVersion: agenttower.dev/v1alpha1
kind: Layout
metadata: {name: l}
spec:
  template: 1m+2s
  target:
    host: box
    container: bench
%s"""


def _boxed_error(extra: str) -> AgentTowerError:
    with pytest.raises(AgentTowerError) as info:
        resolve(parse_text(BOXED % extra, "m.yaml"))
    return info.value


def test_host_and_container_make_one_target_whose_user_is_the_containers() -> None:
    target = _target(host="box", container="bench", user="1000:1000", port=2222, socket="team")
    assert target.key == "ssh:box:2222/container:bench"  # like a container's: no user, no socket
    assert target.login is None and target.destination == "box:2222"  # the ssh config's login
    assert not target.local
    plain = _target(host="box", user="dev")
    assert plain.login == "dev" and plain.key == "ssh:dev@box"


def test_a_container_user_is_not_an_ssh_login_and_any_docker_user_is_taken() -> None:
    assert _target(host="box", container="c", user="1000:1000").user == "1000:1000"
    assert "ssh login" in _error(host="box", user="1000:1000").details["reason"]


@pytest.mark.parametrize(
    ("extra", "field", "line", "reason"),
    [
        ("    logMount: {containerPath: /l, hostPath: /l}\n", "spec.target", 6, "logMount"),
        ("    socket: a\n    socketPath: /tmp/s\n", "spec.target", 6, "at most one"),
    ],
)
def test_bad_combinations_with_a_container_on_a_host_name_code_file_and_line(
    extra: str, field: str, line: int, reason: str
) -> None:
    err = _boxed_error(extra)
    assert (err.code, err.details["field"], err.details["file"], err.details["line"]) == (
        "validation_failed",
        field,
        "m.yaml",
        line,
    )
    assert reason in err.details["reason"]


def test_a_login_written_into_host_is_refused_on_its_line() -> None:
    with pytest.raises(AgentTowerError) as info:
        resolve(parse_text((BOXED % "").replace("host: box", "host: dev@box"), "m.yaml"))
    err = info.value
    assert (err.code, err.details["field"], err.details["line"]) == (
        "validation_failed",
        "spec.target.host",
        7,
    )
    assert "ssh config's User" in err.details["reason"]


def test_the_argv_runs_the_remote_hosts_docker_inside_ssh(monkeypatch: pytest.MonkeyPatch) -> None:
    short = Path(tempfile.mkdtemp(prefix="at-", dir="/tmp"))
    monkeypatch.setenv("AGENTTOWER_STATE_DIR", str(short / "s"))
    monkeypatch.setenv("AGENTTOWER_DOCKER", "/opt/podman")  # this machine's client: not used there
    exec_target = ExecTarget(Target(host="box", container="bench", user="1000:1000", socket="team"))
    argv = exec_target.argv("list-panes", "-a")
    shutil.rmtree(short)
    assert "-l" not in argv and argv[-3:-1] == ["--", "box"]
    assert shlex.split(argv[-1]) == [
        "docker",
        "exec",
        "-i",
        "-u",
        "1000:1000",
        "bench",
        "tmux",
        "-u",
        "-L",
        "team",
        "list-panes",
        "-a",
    ]
    attach = exec_target.argv("attach-session", "-t", "%1", tty=True)
    assert "-tt" in attach and shlex.split(attach[-1])[:3] == ["docker", "exec", "-it"]
    assert exec_target.program == ssh.ssh_binary() and exec_target.is_ssh and exec_target.is_container


def test_a_remote_containers_answers_are_classified_as_a_local_containers() -> None:
    """ssh's failures first (indeterminate), then docker's words, by the one classifier."""
    from agenttower.runtime.observe import Unavailable, classify_failure

    key = "ssh:box/container:bench"
    assert ssh.failure(127, "sh: 1: docker: not found", container=True) is ssh.SshFailure.DOCKER_MISSING
    assert (
        ssh.failure(ssh.SSH_FAILED, "Host key verification failed.", container=True)
        is ssh.SshFailure.HOST_KEY
    )
    stopped = "Error response from daemon: Container 5376 is not running"
    assert ssh.failure(1, stopped, container=True) is None
    listing = classify_failure(key, stopped, container=True)
    assert (listing.status, listing.unavailable) == (ListingStatus.EMPTY, Unavailable.CONTAINER_STOPPED)
    missing = classify_failure(key, "Error response from daemon: No such container: bench", container=True)
    assert missing.unavailable is Unavailable.CONTAINER_MISSING
    down = classify_failure(key, "Cannot connect to the Docker daemon at unix:///var/run/docker.sock.", True)
    assert down.status is ListingStatus.INDETERMINATE and down.transient
