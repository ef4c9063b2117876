"""The two fictitious communes of `cyberscan demo` (one configured by the book, one full of holes), the
model commune's MTA-STS policy host and the stand-in registry's RDAP service.

Every secret below is invented and obviously fake; every third-party host is under `.test`, which
the scanner never fetches (it reads pages, it does not load their subresources).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
from typing import Any

from .webserver import Route, Site

MODELE = "mairie-modele.test"
PASSOIRE = "mairie-passoire.test"
DEMO_DOMAINS = (MODELE, PASSOIRE)
#: the communes' mail servers (MX hosts)
MODELE_MX = f"mx1.{MODELE}"
PASSOIRE_MX = f"mail.{PASSOIRE}"

_HTML = ("Content-Type", "text/html; charset=utf-8")
_TEXT = ("Content-Type", "text/plain; charset=utf-8")

# ---------------------------------------------------------------------------------------------------
# mairie-modele.test: HTTPS only (HTTP answers 301), full set of security headers, clean cookies.

_THIRD_PARTY_SCRIPT = b"/* carte interactive des services municipaux (script fictif) */\n"
_SRI = "sha384-" + base64.b64encode(hashlib.sha384(_THIRD_PARTY_SCRIPT).digest()).decode("ascii")

_MODELE_CSP = (
    "default-src 'self'; script-src 'self' https://cdn.exemple-tiers.test; style-src 'self'; "
    "img-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'; upgrade-insecure-requests"
)

_MODELE_HEADERS = (
    _HTML,
    ("Strict-Transport-Security", "max-age=31536000; includeSubDomains"),
    ("Content-Security-Policy", _MODELE_CSP),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ("X-Content-Type-Options", "nosniff"),
    ("Permissions-Policy", "geolocation=(), camera=(), microphone=()"),
)

_MODELE_HOME = f"""<!DOCTYPE html>
<html lang="fr">
<head>
<meta charset="utf-8">
<title>Mairie de Modèle-sur-Loire — site officiel</title>
<link rel="stylesheet" href="/static/style.css">
<script src="/static/site.js" defer></script>
<script src="https://cdn.exemple-tiers.test/carte/carte.min.js" integrity="{_SRI}"
        crossorigin="anonymous" defer></script>
</head>
<body>
<header><img src="/static/blason.svg" alt="Blason de la commune"><h1>Mairie de Modèle-sur-Loire</h1></header>
<main>
<h2>Bienvenue</h2>
<p>La mairie vous accueille du lundi au vendredi, de 8 h 30 à 12 h et de 13 h 30 à 17 h.</p>
<h2>Nous écrire</h2>
<form action="/contact" method="post">
<label for="courriel">Votre adresse électronique</label> <input id="courriel" name="courriel" type="email">
<label for="message">Votre message</label> <textarea id="message" name="message"></textarea>
<button type="submit">Envoyer</button>
</form>
</main>
<footer><p>Commune fictive, créée pour la démonstration de cyberscan.</p></footer>
</body>
</html>
""".encode()

_MODELE_NOT_FOUND = """<!DOCTYPE html>
<html lang="fr"><head><meta charset="utf-8"><title>Page introuvable</title></head>
<body><h1>Page introuvable</h1><p>La page demandée n'existe pas. <a href="/">Retour à l'accueil</a></p></body>
</html>
""".encode()


def _security_txt(today: datetime.date) -> bytes:
    # RFC 9116: Expires must be in the future and should be less than a year ahead.
    expires = today + datetime.timedelta(days=180)
    return (
        f"Contact: mailto:securite@{MODELE}\n"
        f"Expires: {expires.isoformat()}T23:59:59.000Z\n"
        "Preferred-Languages: fr, en\n"
        f"Canonical: https://{MODELE}/.well-known/security.txt\n"
    ).encode()


def _modele(today: datetime.date) -> Site:
    cookies = (
        ("Set-Cookie", "__Host-session=7d3f9a1c2b4e6f80; Path=/; Secure; HttpOnly; SameSite=Lax"),
        ("Set-Cookie", "langue=fr; Path=/; Max-Age=31536000; Secure; HttpOnly; SameSite=Lax"),
    )
    security_txt_headers = (*(h for h in _MODELE_HEADERS if h != _HTML), _TEXT)
    return Site(
        hosts=(MODELE, f"www.{MODELE}"),
        routes={
            "/": Route(200, _MODELE_HEADERS + cookies, _MODELE_HOME),
            "/.well-known/security.txt": Route(200, security_txt_headers, _security_txt(today)),
        },
        default=Route(404, _MODELE_HEADERS, _MODELE_NOT_FOUND),
        http_routes={},
        # Every plain-HTTP URL moves permanently to the same host and path over HTTPS.
        http_default=Route(301, (("Location", "{https_origin}{path}"), _TEXT), b"Moved Permanently\n"),
        certificate="valid",
    )


# ---------------------------------------------------------------------------------------------------
# mairie-passoire.test: an old WordPress served in clear, banners, leaks, and an expired certificate.

_PASSOIRE_HEADERS = (
    ("Server", "Apache/2.2.15 (CentOS)"),
    ("X-Powered-By", "PHP/5.6.40"),
    # CORS misconfiguration: any Origin is echoed back, with credentials allowed.
    ("Access-Control-Allow-Origin", "{origin}"),
    ("Access-Control-Allow-Credentials", "true"),
)

_PASSOIRE_HOME = f"""<!DOCTYPE html>
<html lang="fr-FR">
<head>
<meta charset="UTF-8">
<title>Mairie de Passoire-les-Bains – Site officiel</title>
<meta name="generator" content="WordPress 4.9.8" />
<link rel='stylesheet' id='twentyseventeen-style-css'
      href='/wp-content/themes/twentyseventeen/style.css?ver=4.9.8' type='text/css' media='all' />
<script type='text/javascript' src='/wp-includes/js/jquery/jquery.js?ver=1.12.4'></script>
<script type='text/javascript' src='/wp-includes/js/wp-embed.min.js?ver=4.9.8'></script>
<script src="http://stats.exemple-tiers.test/compteur.js"></script>
<script src="https://meteo.exemple-tiers.test/widget.js"></script>
</head>
<body class="home">
<h1>Bienvenue sur le site de la mairie de Passoire-les-Bains</h1>
<p>Retrouvez ici les actualités de la commune, les menus de la cantine et les comptes rendus du conseil.</p>
<h2>Contactez la mairie</h2>
<form action="http://{PASSOIRE}/contact.php" method="post">
<label>Nom <input type="text" name="nom"></label>
<label>Message <textarea name="message"></textarea></label>
<input type="submit" value="Envoyer">
</form>
<p><a href="/wp-login.php">Connexion</a></p>
</body>
</html>
""".encode()

_FAKE_APP_KEY = base64.b64encode(b"FAUX-CLE-DEMO-NE-PAS-UTILISER!!!").decode("ascii")
_PASSOIRE_ENV = f"""APP_NAME=PassoireLesBains
APP_ENV=production
APP_DEBUG=true
APP_KEY=base64:{_FAKE_APP_KEY}
DB_HOST=127.0.0.1
DB_DATABASE=mairie
DB_USERNAME=wordpress
DB_PASSWORD=faux-mot-de-passe-de-demonstration
""".encode()

_GIT_CONFIG = b"""[core]
\trepositoryformatversion = 0
\tfilemode = true
\tbare = false
[remote "origin"]
\turl = https://forge.exemple-prestataire.test/mairie/site-web.git
\tfetch = +refs/heads/*:refs/remotes/origin/*
"""

_PHPINFO = b"""<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" "DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml"><head><title>phpinfo()</title></head>
<body><div class="center">
<table><tr class="h"><td><h1 class="p">PHP Version 5.6.40</h1></td></tr></table>
<table>
<tr><td class="e">System </td><td class="v">Linux passoire 2.6.32-754.el6.x86_64 #1 SMP x86_64 </td></tr>
<tr><td class="e">Server API </td><td class="v">Apache 2.0 Handler </td></tr>
<tr><td class="e">Loaded Configuration File </td><td class="v">/etc/php.ini </td></tr>
</table>
</div></body></html>
"""

_UPLOADS_LISTING = f"""<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">
<html>
 <head>
  <title>Index of /wp-content/uploads</title>
 </head>
 <body>
<h1>Index of /wp-content/uploads</h1>
<table><tr><th><a href="?C=N;O=D">Name</a></th><th><a href="?C=M;O=A">Last modified</a></th>\
<th><a href="?C=S;O=A">Size</a></th></tr>
<tr><td><a href="/wp-content/">Parent Directory</a></td><td>&nbsp;</td><td align="right">  - </td></tr>
<tr><td><a href="2018/">2018/</a></td><td align="right">03-Dec-2018 09:12</td><td align="right">-</td></tr>
<tr><td><a href="2019/">2019/</a></td><td align="right">18-Mar-2019 16:40</td><td align="right">-</td></tr>
<tr><td><a href="sauvegarde.sql">sauvegarde.sql</a></td><td align="right">12-Mar-2019 10:42  </td>\
<td align="right"> 48M</td></tr>
</table>
<address>Apache/2.2.15 (CentOS) Server at {PASSOIRE} Port 80</address>
</body></html>
""".encode()

_WP_LOGIN = f"""<!DOCTYPE html>
<html lang="fr-FR">
<head><meta charset="UTF-8">
<title>Se connecter &lsaquo; Mairie de Passoire-les-Bains &#8212; WordPress</title></head>
<body class="login">
<div id="login"><h1><a href="https://fr.wordpress.org/">Propulsé par WordPress</a></h1>
<form name="loginform" id="loginform" action="/wp-login.php" method="post">
<p><label for="user_login">Identifiant ou adresse e-mail<br />
<input type="text" name="log" id="user_login" class="input" value="" size="20" /></label></p>
<p><label for="user_pass">Mot de passe<br />
<input type="password" name="pwd" id="user_pass" class="input" value="" size="20" /></label></p>
<p class="submit"><input type="submit" name="wp-submit" id="wp-submit" value="Se connecter" /></p>
</form>
<p id="nav"><a href="/wp-login.php?action=lostpassword">Mot de passe oublié ?</a></p>
<p id="backtoblog"><a href="http://{PASSOIRE}/">&larr; Retour vers Mairie de Passoire-les-Bains</a></p>
</div>
</body>
</html>
""".encode()

_PHPMYADMIN = """<!DOCTYPE HTML>
<html lang="fr" dir="ltr">
<head><meta charset="utf-8" /><title>phpMyAdmin</title></head>
<body class="loginform">
<div class="container"><h1>Bienvenue dans <bdo dir="ltr" lang="en">phpMyAdmin</bdo></h1>
<form method="post" action="index.php" name="login_form" class="login">
<fieldset><legend>Connexion</legend>
<div class="item"><label for="input_username">Utilisateur :</label>
<input type="text" name="pma_username" id="input_username" value="" size="24" /></div>
<div class="item"><label for="input_password">Mot de passe :</label>
<input type="password" name="pma_password" id="input_password" value="" size="24" /></div>
</fieldset>
<fieldset class="tblFooters"><input value="Exécuter" type="submit" id="input_go" /></fieldset>
</form></div>
</body>
</html>
""".encode()

# display_errors=On in production: every unknown path shows a PHP fatal error with server paths.
_PHP_FATAL = b"""<br />
Fatal error: Uncaught Exception: Page introuvable in /var/www/html/index.php:12
Stack trace:
#0 /var/www/html/wp-includes/template-loader.php(74): include()
#1 /var/www/html/wp-blog-header.php(19): require_once('/var/www/html/w...')
#2 {main}
  thrown in /var/www/html/index.php on line 12<br />
"""


def _passoire_route(
    status: int, content_type: tuple[str, str], body: bytes, *extra: tuple[str, str]
) -> Route:
    return Route(status, (*_PASSOIRE_HEADERS, content_type, *extra), body)


def _passoire() -> Site:
    routes = {
        "/": _passoire_route(
            200, _HTML, _PASSOIRE_HOME, ("Set-Cookie", "PHPSESSID=9c0ffee0b5d1a2c3e4f5a6b7c8d9e0f1; path=/")
        ),
        "/.git/HEAD": _passoire_route(200, _TEXT, b"ref: refs/heads/master\n"),
        "/.git/config": _passoire_route(200, _TEXT, _GIT_CONFIG),
        "/.env": _passoire_route(200, _TEXT, _PASSOIRE_ENV),
        "/phpinfo.php": _passoire_route(200, _HTML, _PHPINFO),
        "/wp-content/uploads/": _passoire_route(200, _HTML, _UPLOADS_LISTING),
        "/wp-login.php": _passoire_route(
            200, _HTML, _WP_LOGIN, ("Set-Cookie", "wordpress_test_cookie=WP+Cookie+check; path=/")
        ),
        "/wp-admin/": _passoire_route(
            302, _HTML, b"", ("Location", "/wp-login.php?redirect_to=%2Fwp-admin%2F&reauth=1")
        ),
        "/xmlrpc.php": _passoire_route(
            405,
            ("Content-Type", "text/plain;charset=UTF-8"),
            b"XML-RPC server accepts POST requests only.",
            ("Allow", "POST"),
        ),
        "/phpmyadmin/": _passoire_route(200, _HTML, _PHPMYADMIN),
    }
    return Site(
        hosts=(PASSOIRE, f"www.{PASSOIRE}"),
        routes=routes,
        default=_passoire_route(500, _HTML, _PHP_FATAL),
        # http_routes=None: the same content is served in clear, with no redirect to HTTPS.
        certificate="expired",
    )


def demo_sites(today: datetime.date) -> list[Site]:
    """The demo's two communes; `today` dates security.txt's Expires (less than a year ahead)."""
    return [_modele(today), _passoire()]


# ---------------------------------------------------------------------------------------------------
# Around the communes: the model commune's MTA-STS policy host, and the registry's RDAP service.

MTA_STS_POLICY = (
    # RFC 8461 §3.2: lines end in CRLF; the MX pattern must match every MX host, max_age is a week.
    f"version: STSv1\r\nmode: enforce\r\nmx: {MODELE_MX}\r\nmax_age: 604800\r\n"
).encode()


def mta_sts_site() -> Site:
    """https://mta-sts.mairie-modele.test/.well-known/mta-sts.txt: the policy, `mode: enforce`."""
    return Site(
        hosts=(f"mta-sts.{MODELE}",),
        routes={"/.well-known/mta-sts.txt": Route(200, (_TEXT,), MTA_STS_POLICY)},
        certificate="valid",
    )


#: the six registrar (client) and registry (server) locks of RFC 8056, as RDAP spells them
_LOCKS = tuple(
    f"{side} {operation} prohibited"
    for side in ("client", "server")
    for operation in ("transfer", "update", "delete")
)
_RDAP_JSON = (("Content-Type", "application/rdap+json"),)


def _rdap_date(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def rdap_domain(name: str, expires: datetime.datetime, statuses: tuple[str, ...]) -> dict[str, Any]:
    """An RFC 9083 domain object, shaped as AFNIC's RDAP service answers (invented registrar)."""
    return {
        "objectClassName": "domain",
        "rdapConformance": ["rdap_level_0"],
        "ldhName": name,
        "status": ["active", *statuses],
        "events": [
            {"eventAction": "registration", "eventDate": "2004-06-15T09:00:00Z"},
            {"eventAction": "expiration", "eventDate": _rdap_date(expires)},
        ],
        "entities": [
            {
                "objectClassName": "entity",
                "roles": ["registrar"],
                "vcardArray": [
                    "vcard",
                    [["version", {}, "text", "4.0"], ["fn", {}, "text", "Bureau d'enregistrement fictif"]],
                ],
            }
        ],
    }


def rdap_site(host: str, now: datetime.datetime) -> Site:
    """The registry's RDAP service (RFC 9082 `/domain/<name>`): the model commune's domain renewed for
    about 300 days and locked at both registrar and registry; the weak one's expiring in 20 days, unlocked.
    """
    records = {
        MODELE: rdap_domain(MODELE, now + datetime.timedelta(days=300), _LOCKS),
        PASSOIRE: rdap_domain(PASSOIRE, now + datetime.timedelta(days=20), ()),
    }
    return Site(
        hosts=(host,),
        routes={
            f"/domain/{name}": Route(200, _RDAP_JSON, json.dumps(obj).encode())
            for name, obj in records.items()
        },
        # RFC 7480 §5.3: an unknown domain is a 404
        default=Route(404, _RDAP_JSON, b'{"errorCode": 404, "title": "Not Found"}'),
        certificate="valid",
    )
