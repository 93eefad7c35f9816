"""Every curl command in the README answers with the status its comment announces."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import httpx

from export_resend.main import create_app
from tests.conftest import World

README = Path(__file__).parents[2] / "README.md"
BASE_URL = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class Step:
    expected: int
    comment: str
    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None


def walkthrough() -> list[Step]:
    """The curl commands of the README's bash blocks, each with the status above it."""
    steps: list[Step] = []
    for block in re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S):
        expected, comment = 0, ""
        for line in block.replace("\\\n", " ").splitlines():
            if match := re.match(r"# (\d{3})\b", line):
                expected, comment = int(match[1]), line
            elif line.startswith("curl "):
                steps.append(_step(expected, comment, line))
    return steps


def _step(expected: int, comment: str, command: str) -> Step:
    args = shlex.split(command)[1:]
    method, url, headers, body = "GET", "", {}, None
    while args:
        flag = args.pop(0)
        if flag == "-i":
            continue
        if flag == "-X":
            method = args.pop(0)
        elif flag == "-H":
            name, _, value = args.pop(0).partition(":")
            headers[name.strip()] = value.strip()
        elif flag == "-d":
            body = args.pop(0).encode()
            method = "POST" if method == "GET" else method
        else:
            url = flag
    return Step(expected, comment, method, url, headers, body)


def test_the_readme_has_the_walkthrough_of_the_issue() -> None:
    assert [s.expected for s in walkthrough()[:5]] == [200, 403, 404, 409, 400]
    assert len(walkthrough()) >= 12
    assert all(s.expected and s.url.startswith(BASE_URL) for s in walkthrough())


async def test_every_readme_command_answers_as_announced(world: World) -> None:
    await world.container.seed_demo()()
    app = create_app(container=world.container)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client,
    ):
        for step in walkthrough():
            response = await client.request(
                step.method, step.url, headers=step.headers, content=step.body
            )
            assert response.status_code == step.expected, (step.comment, response.text)
            code = re.search(r"\b([A-Z]+(?:_[A-Z]+)+)\b", step.comment)
            if code:
                assert response.json()["code"] == code[1], step.comment
