"""Status page writes shared by the page, the API and the admin's plain rows."""

from django.db import IntegrityError, transaction

from arguslm import errors
from dashboard.models import StatusPage, forget_cached

FIELDS = ("slug", "title", "description", "public")


def create_status_page(*, llm_models=(), accounts=(), **fields) -> StatusPage:
    """A new page with the chosen models and accounts (a slug taken meanwhile is refused)."""
    try:
        with transaction.atomic():
            page = StatusPage.objects.create(**{k: fields[k] for k in FIELDS if k in fields})
            page.llm_models.set(llm_models)
            page.accounts.set(accounts)
    except IntegrityError:
        raise errors.Invalid("A status page with this slug already exists.") from None
    forget_cached()
    return page


def update_status_page(*, page: StatusPage, llm_models=None, accounts=None, **fields) -> StatusPage:
    """Change the given fields; ``None`` leaves the models or accounts as they are."""
    try:
        with transaction.atomic():
            for name in FIELDS:
                if name in fields:
                    setattr(page, name, fields[name])
            page.save()
            if llm_models is not None:
                page.llm_models.set(llm_models)
            if accounts is not None:
                page.accounts.set(accounts)
    except IntegrityError:
        raise errors.Invalid("A status page with this slug already exists.") from None
    forget_cached()
    return page


def delete_status_page(*, page: StatusPage) -> None:
    page.delete()
