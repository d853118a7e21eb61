"""The peer in `make bench`: Google's own desktop library
(google-auth-oauthlib's InstalledAppFlow.run_local_server) doing the same
authorization-code flow against the same fake provider, with a scripted
in-process browser, plus the userinfo call Keyport makes for identity.

usage: peer_flow.py BASE_URL CLIENT_ID CLIENT_SECRET RUNS  → JSON seconds list
"""
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request
import webbrowser

os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the fake is http on 127.0.0.1
os.environ.setdefault("OAUTHLIB_RELAX_TOKEN_SCOPE", "1")
os.environ.pop("BROWSER", None)

from google_auth_oauthlib.flow import InstalledAppFlow  # noqa: E402

base, client_id, client_secret, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


class ScriptedBrowser(webbrowser.BaseBrowser):
    """Approves at the provider and follows its redirect to the loopback."""

    def open(self, url, new=0, autoraise=True):
        def go():
            try:
                _opener.open(url)
            except urllib.error.HTTPError as e:
                urllib.request.urlopen(e.headers["Location"]).read()

        threading.Thread(target=go, daemon=True).start()
        return True


webbrowser.register("scripted", None, ScriptedBrowser("scripted"), preferred=True)

config = {
    "installed": {
        "client_id": client_id,
        "client_secret": client_secret,
        "auth_uri": base + "/authorize",
        "token_uri": base + "/token",
        "redirect_uris": ["http://127.0.0.1"],
    }
}
scopes = ["openid", "email", "https://www.googleapis.com/auth/gmail.readonly"]
samples = []
for i in range(runs):
    start = time.perf_counter()
    flow = InstalledAppFlow.from_client_config(config, scopes=scopes)
    creds = flow.run_local_server(
        host="127.0.0.1", port=0, open_browser=True, browser="scripted",
        authorization_prompt_message="", success_message="ok",
    )
    flow.oauth2session.get(base + "/userinfo").json()
    samples.append(time.perf_counter() - start)
print(json.dumps(samples))
