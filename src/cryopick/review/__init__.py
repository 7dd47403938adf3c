"""The browser review page (``Review/index.html``) and the decisions it feeds back
(``review.yaml``)."""
