// The https relay page (docs/relay) in Debian's Chromium: it forwards only
// the OAuth response to dev.keyport:/oauth/callback and cleans the address bar.
import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const require = createRequire(path.join(root, "ui/package.json"));
const { chromium } = require("playwright-core");

const TYPES = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css" };

function serve() {
  const server = http.createServer(async (req, res) => {
    const name = new URL(req.url, "http://x").pathname.replace(/^\/+/, "") || "index.html";
    if (!/^[a-z]+\.(html|js|css)$/.test(name)) return res.writeHead(404).end();
    try {
      const body = await readFile(path.join(root, "docs/relay", name));
      res.writeHead(200, { "content-type": TYPES[path.extname(name)] }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

test("relay forwards code and state, drops everything else, cleans the URL", { timeout: 60_000 }, async () => {
  const server = await serve();
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  try {
    const errors = [];
    // A fresh page per visit: the relay's own hand-off to dev.keyport: from
    // the previous visit must not abort the next navigation.
    let page = null;
    const visit = async (url) => {
      if (page) await page.close();
      page = await browser.newPage();
      page.on("pageerror", (e) => errors.push(String(e)));
      page.on("console", (m) => m.type() === "error" && !/dev\.keyport/.test(m.text()) && errors.push(m.text()));
      await page.goto(url, { waitUntil: "domcontentloaded" });
    };
    const base = `http://127.0.0.1:${server.address().port}/index.html`;

    await visit(`${base}?code=4%2F0Aabc&state=s123&scope=a+b&evil=%3Cx%3E&authuser=0`);
    const href = await page.getAttribute("#open", "href");
    const link = new URL(href);
    assert.equal(link.protocol, "dev.keyport:");
    assert.equal(link.pathname, "/oauth/callback");
    assert.deepEqual([...link.searchParams.keys()].sort(), ["code", "scope", "state"]);
    assert.equal(link.searchParams.get("code"), "4/0Aabc");
    assert.equal(link.searchParams.get("state"), "s123");
    assert.equal(new URL(page.url()).search, "", "the code is removed from the address bar");
    assert.equal(await page.isVisible("#open"), true);

    await visit(`${base}?state=s&error=access_denied`);
    const denied = new URL(await page.getAttribute("#open", "href"));
    assert.equal(denied.searchParams.get("error"), "access_denied");

    await visit(`${base}?code=only-a-code`);
    assert.equal(await page.textContent("#title"), "Nothing to pass on");
    assert.equal(await page.isVisible("#open"), false);

    await visit(`${base}?code=a&code=b&state=s`);
    assert.equal(await page.textContent("#title"), "Nothing to pass on", "duplicated parameters are not forwarded");
    assert.deepEqual(errors, [], "no CSP violations or script errors");
  } finally {
    await browser.close();
    server.close();
  }
});
