"""Web pages for brokers and agencies, served by the API's own app (`api.main`).

Server-rendered Jinja2 templates over the same route functions as the JSON API
(`api.web.routes`), signed in with an API key (`api.web.session`), with htmx and
vis-timeline served from `static/vendor/` (nothing is fetched from elsewhere at run
time). See docs/web.md.
"""

from api.web.routes import install

__all__ = ["install"]
