"""The load scenario: students and instructors of many LMS tenants using the Q&A widget.

Run by ``bench/load/run.py``, which starts the servers and passes, in the environment,
``LOAD_LMS_URL`` (the test LMS's control API), ``LOAD_TENANTS`` (the client ids registered in
it, one course each) and ``LOAD_RUN`` (a prefix that makes this run's users new).

Each simulated user is one LMS user of one tenant, with its own cookie jar. It launches the
tool from its course (the full OIDC login and launch: tool ``/lti/login``, LMS ``/auth``, the
id_token POST to ``/lti/launch``, then the Q&A list it lands on), accepts the course's code of
conduct on its first launch, then reads lists and questions, searches, asks and answers, and
launches again now and then. A ``BaselineUser`` asks ``/healthz`` and the JWKS at the same
time: the bare-endpoint figures of the same run.
"""

from __future__ import annotations

import itertools
import os
import random
import re
import threading
from html import unescape
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from locust import HttpUser, between, task
from locust.clients import HttpSession
from requests.cookies import RequestsCookieJar

from bench._client import LoopbackSecurePolicy, parse_form

LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
TIMEOUT = 30.0  # seconds: a request slower than this counts as an error
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
CONDUCT_RE = re.compile(r'<form method="post" action="([^"]*/conduct/accept)"')
VERSION_RE = re.compile(r'name="version" value="([^"]+)"')
_TEXT = (
    "derivata funzione limite integrale matrice vettore esercizio esame teorema serie "
    "equazione soluzione lezione appunti capitolo progetto scadenza laboratorio codice errore "
    "derivative limit integral matrix exercise exam proof series lecture notes deadline python"
)
WORDS = _TEXT.split()

_numbers = itertools.count()
_numbers_lock = threading.Lock()


def _next_number() -> int:
    with _numbers_lock:
        return next(_numbers)


def why(response: Any) -> str:
    """The status and the start of the body, or the connection error when there was no answer."""
    if not response.status_code:
        return f"no answer: {type(response.error).__name__}: {response.error}"[:200]
    where = response.headers.get("Location") or response.text[:200]
    return f"{response.status_code}: {where!r}"


def words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


class LoopbackSession(HttpSession):
    """Locust's HTTP session, keeping and sending Secure cookies on loopback as browsers do."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cookies = RequestsCookieJar(policy=LoopbackSecurePolicy())

    def prepare_request(self, request: requests.Request) -> requests.PreparedRequest:
        prepared = super().prepare_request(request)
        # requests merges cookies into a jar with the default policy; ask ours instead.
        prepared.headers.pop("Cookie", None)
        prepared.prepare_cookies(self.cookies)
        return prepared


class LmsUser(HttpUser):
    """One person of one tenant's course, using the Q&A widget."""

    wait_time = between(2, 8)
    weight = 200

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.client = LoopbackSession(
            base_url=self.host,
            request_event=self.environment.events.request,
            user=self,
            pool_manager=self.pool_manager,
        )
        self.client.trust_env = False
        number = _next_number()
        tenants = os.environ["LOAD_TENANTS"].split(",")
        self.rng = random.Random(number)
        self.client_id = tenants[number % len(tenants)]
        self.number = number
        self.staff = number % 10 == 0
        self.sub = f"{os.environ.get('LOAD_RUN', 'load')}-{self.client_id}-{number}"
        self.lms = os.environ["LOAD_LMS_URL"]
        self.qa_url = ""  # /w/<lid>/qa/ after a launch
        self.question_ids: list[int] = []
        self.csrf = ""

    # -- launching ----------------------------------------------------------------------------

    def on_start(self) -> None:
        self.launch()

    def _login_url(self) -> str:
        """Ask the test LMS to prepare a launch for this user (the LMS's part, not measured)."""
        spec = {
            "user": {
                "sub": self.sub,
                "name": f"Load User {self.number}",
                "given_name": "Load",
                "family_name": f"User {self.number}",
                "locale": "en",
            },
            "roles": [INSTRUCTOR if self.staff else LEARNER],
            "context": {"id": "course-1", "title": f"Course of {self.client_id}", "label": "C1"},
            "resource_link": {"id": "qa-1", "title": "Questions"},
            "custom": {"widget": "qa"},
        }
        body = {"client_id": self.client_id, "launches": [spec]}
        response = requests.post(self.lms + "/bench/prepare", json=body, timeout=TIMEOUT)
        response.raise_for_status()
        url: str = response.json()["login_urls"][0]
        return url

    @task(1)
    def launch(self) -> None:
        """The full OIDC login and launch, as the browser in the LMS's iframe follows it."""
        login_url = self._login_url()
        with self.client.get(
            login_url,
            name="launch: /lti/login",
            allow_redirects=False,
            catch_response=True,
            timeout=TIMEOUT,
        ) as login:
            if login.status_code != 302:
                login.failure(f"login answered {why(login)}")
                return
        with self.client.get(
            login.headers["Location"],
            name="launch: LMS /auth",
            allow_redirects=False,
            catch_response=True,
            timeout=TIMEOUT,
        ) as auth:
            if auth.status_code != 200:
                auth.failure(f"LMS auth answered {why(auth)}")
                return
            try:
                action, fields = parse_form(auth.text)
            except ValueError as exc:
                auth.failure(str(exc))
                return
        with self.client.post(
            action,
            data=fields,
            name="launch: POST /lti/launch",
            allow_redirects=False,
            catch_response=True,
            timeout=TIMEOUT,
        ) as posted:
            if posted.status_code != 303:  # a Q&A launch answers with its list page's address
                posted.failure(f"launch answered {why(posted)}")
                return
        landing = urljoin(action, posted.headers["Location"])
        self.qa_url = urlsplit(landing).path
        page = self._get(landing, "launch: Q&A list (landing)")
        if page is not None and (match := CONDUCT_RE.search(page)):
            self._accept_conduct(urljoin(landing, unescape(match.group(1))), page)

    def _accept_conduct(self, url: str, page: str) -> None:
        version = VERSION_RE.search(page)
        csrf = CSRF_RE.search(page)
        data = {
            "csrf_token": csrf.group(1) if csrf else "",
            "version": version.group(1) if version else "",
        }
        with self.client.post(
            url,
            data=data,
            name="launch: accept the code of conduct",
            allow_redirects=False,
            catch_response=True,
            timeout=TIMEOUT,
        ) as accepted:
            if accepted.status_code != 303:
                accepted.failure(f"accept answered {why(accepted)}")
                return
        # The code of conduct leads to the widget's page, which sends a Q&A placement on to
        # its list, as a browser follows it.
        widget = urljoin(url, accepted.headers["Location"])
        with self.client.get(
            widget,
            name="launch: widget page (redirects to Q&A)",
            allow_redirects=False,
            catch_response=True,
            timeout=TIMEOUT,
        ) as hop:
            if hop.status_code not in (302, 303):
                hop.failure(f"widget page answered {why(hop)}")
                return
        self._get(urljoin(widget, hop.headers["Location"]), "Q&A list")

    def _get(self, url: str, name: str) -> str | None:
        """GET a page that must answer 200; remember what later tasks need from it."""
        with self.client.get(
            url, name=name, allow_redirects=False, catch_response=True, timeout=TIMEOUT
        ) as response:
            if response.status_code != 200:
                response.failure(why(response))
                return None
            text = response.text
        csrf = CSRF_RE.search(text)
        if csrf:
            self.csrf = csrf.group(1)
        if self.qa_url:
            found = re.findall(re.escape(self.qa_url) + r"(\d+)", text)
            if found:
                self.question_ids = sorted({int(x) for x in found})[-30:]
        return text

    def _post(self, path: str, data: dict[str, str], name: str) -> None:
        """POST a form that must answer 303 (posted), then GET where it leads."""
        with self.client.post(
            path,
            data={**data, "csrf_token": self.csrf},
            name=name,
            allow_redirects=False,
            catch_response=True,
            timeout=TIMEOUT,
        ) as response:
            if response.status_code != 303:
                response.failure(why(response))
                return
        self._get(
            urljoin(self.host + path, response.headers["Location"]).split("#")[0], "Q&A question"
        )

    # -- reading and writing ------------------------------------------------------------------

    @task(4)
    def read_list(self) -> None:
        if self.qa_url:
            self._get(self.qa_url, "Q&A list")

    @task(4)
    def read_question(self) -> None:
        if not self.question_ids:
            return self.read_list()
        question_id = self.rng.choice(self.question_ids)
        self._get(f"{self.qa_url}{question_id}", "Q&A question")

    @task(2)
    def search(self) -> None:
        if self.qa_url:
            query = words(self.rng, self.rng.choice((1, 2)))
            self._get(f"{self.qa_url}?q={query.replace(' ', '+')}", "Q&A search")

    @task(1)
    def ask(self) -> None:
        if not self.qa_url:
            return
        if not self.csrf:
            self._get(self.qa_url + "ask", "Q&A ask form")
        title = words(self.rng, 6).capitalize() + "?"
        body = f"{words(self.rng, 30)}. (load user {self.number})"
        self._post(self.qa_url + "ask", {"title": title, "body": body}, "Q&A ask (POST)")

    @task(1)
    def answer(self) -> None:
        if not self.question_ids or not self.csrf:
            return self.read_list()
        question_id = self.rng.choice(self.question_ids)
        body = f"{words(self.rng, 20)}. (answer by load user {self.number})"
        self._post(f"{self.qa_url}{question_id}/answers", {"body": body}, "Q&A answer (POST)")


class BaselineUser(HttpUser):
    """The bare endpoints, asked at the same time as the scenario: the run's own baseline."""

    wait_time = between(0.5, 1.5)
    fixed_count = 2

    @task
    def healthz(self) -> None:
        with self.client.get(
            "/healthz", name="baseline: /healthz", catch_response=True, timeout=TIMEOUT
        ) as response:
            if response.status_code != 200:
                response.failure(f"healthz answered {why(response)}")

    @task
    def jwks(self) -> None:
        with self.client.get(
            "/.well-known/jwks.json",
            name="baseline: JWKS (no database)",
            catch_response=True,
            timeout=TIMEOUT,
        ) as response:
            if response.status_code != 200:
                response.failure(f"JWKS answered {why(response)}")
