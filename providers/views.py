"""Server-rendered Providers and Models pages (htmx partials for the per-row actions).

Every action is a plain POST form that htmx enhances: with htmx the view answers with the
partial to swap in; without it the view redirects back with a django message, so the pages also
work with JavaScript off. Bad input is answered with status 200 and the form with its messages
(Django's form convention; htmx swaps no 4xx body, and browsers log a 4xx page as an error).
Stored secrets never reach a template: secret fields are rendered empty with a "set" hint.
"""

import uuid
from urllib.parse import urlencode, urlsplit

from django.contrib import messages
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_POST

from arguslm import errors
from arguslm.limits import rate_limited
from arguslm.llm import catalog
from arguslm.llm.types import GatewayError
from arguslm.pages import (
    count_holds,
    hidden_fields,
    login_required_htmx,
    paginate,
    parse_bool,
    permission_required,
    redirect_back,
)
from providers import selection, services
from providers.forms import (
    AccountAddForm,
    AccountEditForm,
    ModelAddForm,
    ModelRenameForm,
    ModelTagsForm,
)
from providers.models import LLMModel, ProviderAccount
from providers.selection import tag_options
from providers.services import BulkAction

MODELS_PER_PAGE = 25
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}
SECRET_SET_PLACEHOLDER = "set — leave empty to keep"


# --- helpers ------------------------------------------------------------------------------------


def _spec_label(provider_type: str) -> str:
    spec = catalog.get_spec(provider_type)
    return spec.label if spec else provider_type


def _is_local(url: str | None) -> bool:
    return bool(url) and urlsplit(url).hostname in LOCAL_HOSTS


def _field_rows(
    spec: catalog.ProviderSpec | None,
    *,
    account: ProviderAccount | None = None,
    data: dict | None = None,
    errors: dict | None = None,
) -> list[dict]:
    """The spec's credential fields ready to render: value, placeholder, "is set", error.

    ``account`` is the stored account being edited (secrets stay empty, other fields show the
    stored value); ``data`` is a submitted form being re-rendered (secrets are not echoed).
    """
    if spec is None:
        return []
    stored = account.credentials if account is not None else {}
    errors = errors or {}
    rows = []
    for f in spec.fields:
        name, kind = f["name"], f["kind"]
        secret = kind in catalog.SECRET_KINDS
        is_set = name in stored
        if data is not None:
            value = "" if secret else data.get(f"cred_{name}", "")
        elif account is not None:
            value = "" if secret else str(stored.get(name, ""))
        elif name == "base_url" and _is_local(spec.default_base_url):
            value = spec.default_base_url  # a local server usually runs on its default port
        else:
            value = ""
        if secret and is_set:
            placeholder = SECRET_SET_PLACEHOLDER
        elif secret and account is not None:
            placeholder = "not set"
        elif name == "base_url" and spec.default_base_url:
            placeholder = spec.default_base_url
        else:
            placeholder = ""
        rows.append(
            {
                **f,
                "input_name": f"cred_{name}",
                "secret": secret,
                "is_set": is_set,
                "value": value,
                "placeholder": placeholder,
                "removable": secret and is_set,
                "remove_checked": data is not None and parse_bool(data.get(f"remove_{name}")),
                "error": errors.get(f"cred_{name}", ""),
            }
        )
    return rows


# --- providers page -----------------------------------------------------------------------------


def _accounts():
    return (
        ProviderAccount.objects.annotate(
            model_total=Count("models"),
            model_monitored=Count("models", filter=Q(models__enabled_for_monitoring=True)),
        )
        .prefetch_related("tags")
        .order_by("created_at", "id")
    )


def _decorate(account: ProviderAccount, *, edit_data=None, edit_errors=None) -> ProviderAccount:
    """Attach what the card shows: type label, credential labels, the edit form's fields."""
    spec = catalog.get_spec(account.provider_type)
    labels = {f["name"]: f["label"] for f in spec.fields} if spec else {}
    account.spec = spec
    account.type_label = spec.label if spec else account.provider_type
    account.credential_labels = [labels.get(k, k) for k in account.credential_keys]
    account.edit_fields = _field_rows(spec, account=account, data=edit_data, errors=edit_errors)
    account.edit_errors = edit_errors or {}
    account.edit_name = (edit_data or {}).get("display_name", account.display_name)
    account.tag_names = [tag.name for tag in account.tags.all()]
    account.edit_tags = (edit_data or {}).get("tags", ", ".join(account.tag_names))
    account.edit_probe_regions = (edit_data or {}).get(
        "probe_regions", ", ".join(account.probe_regions)
    )
    account.edit_region_urls = (edit_data or {}).get(
        "region_base_urls",
        "\n".join(f"{region} {url}" for region, url in account.region_base_urls.items()),
    )
    return account


def _provider_types() -> tuple[list, list]:
    specs = catalog.all_specs().values()
    return [s for s in specs if s.tested], [s for s in specs if not s.tested]


def _render_providers(request: HttpRequest, *, add_data=None, add_errors=None) -> HttpResponse:
    tested, other = _provider_types()
    add_data = add_data or {}
    add_type = add_data.get("provider_type", "")
    spec = catalog.get_spec(add_type) if add_type else None
    context = {
        "page": "providers",
        "accounts": [_decorate(a) for a in _accounts()],
        "tested_types": tested,
        "other_types": other,
        "add_data": add_data,
        "add_errors": add_errors or {},
        "add_spec": spec,
        "add_fields": _field_rows(spec, data=add_data or None, errors=add_errors),
    }
    return render(request, "providers/providers.html", context)


def _card(request: HttpRequest, account_id, *, notice=None, **edit) -> HttpResponse:
    account = _decorate(get_object_or_404(_accounts(), pk=account_id), **edit)
    return render(request, "providers/card.html", {"account": account, "notice": notice})


def _card_or_back(
    request: HttpRequest, account: ProviderAccount, level: str, text: str
) -> HttpResponse:
    """htmx: the re-rendered card with a notice; plain POST: a message and back to the page."""
    if request.htmx:
        return _card(request, account.pk, notice={"level": level, "text": text})
    getattr(messages, level)(request, text)
    return redirect("providers")


@login_required_htmx
@require_GET
def providers_page(request: HttpRequest) -> HttpResponse:
    return _render_providers(request)


@login_required_htmx
@require_GET
def provider_fields(request: HttpRequest) -> HttpResponse:
    """The Add form's credential fields for one provider type (swapped in by htmx)."""
    spec = catalog.get_spec(request.GET.get("provider_type", ""))
    return render(request, "providers/fields.html", {"spec": spec, "fields": _field_rows(spec)})


def _result(request: HttpRequest, result: dict) -> HttpResponse:
    return render(request, "providers/result.html", {"result": result})


@login_required_htmx
@permission_required("providers.add_provideraccount")
@require_POST
@rate_limited("connection_test")
def provider_test_new(request: HttpRequest) -> HttpResponse:
    """Test the Add form's unsaved credentials."""
    # The name does not matter for a test; do not make people type it first.
    form = AccountAddForm(request.POST, default_name="test")
    if not form.is_valid():
        problems = form.messages().values()
        return _result(
            request, {"success": False, "message": "Fix the form first.", "problems": problems}
        )
    data = form.validated_data
    result = services.test_connection(
        provider_type=data["provider_type"], credentials=data["credentials"]
    )
    return _result(request, result)


@login_required_htmx
@permission_required("providers.add_provideraccount")
@require_POST
def provider_add(request: HttpRequest) -> HttpResponse:
    """Create an account from the Add form, then discover its models once."""
    form = AccountAddForm(request.POST)
    if not form.is_valid():
        return _render_providers(request, add_data=request.POST, add_errors=form.messages())
    created = services.create_account(**{**form.validated_data, "discover_models": True})
    account = created.account
    if created.discovery_error:
        messages.warning(
            request,
            f"Added “{account.display_name}”, but model discovery failed: "
            f"{created.discovery_error} "
            "Add models by hand on the Models page, or fix the account and refresh.",
        )
    else:
        messages.success(request, f"Added “{account.display_name}”. {created.refresh.message}")
    return redirect(f"{reverse('providers')}#provider-{account.pk}")


@login_required_htmx
@permission_required("providers.change_provideraccount")
@require_POST
@rate_limited("connection_test")
def provider_test(request: HttpRequest, account_id: uuid.UUID) -> HttpResponse:
    account = get_object_or_404(ProviderAccount, pk=account_id)
    result = services.test_connection(
        provider_type=account.provider_type,
        credentials=account.credentials,
        account=account,
    )
    if request.htmx:
        return _result(request, result)
    level = "success" if result["success"] else "error"
    getattr(messages, level)(request, f"{account.display_name}: {result['message']}")
    return redirect("providers")


@login_required_htmx
@permission_required("providers.change_provideraccount")
@require_POST
@rate_limited("model_refresh")
def provider_refresh(request: HttpRequest, account_id: uuid.UUID) -> HttpResponse:
    account = get_object_or_404(ProviderAccount, pk=account_id)
    try:
        result = services.refresh_models(account=account)
    except GatewayError as exc:
        return _card_or_back(request, account, "error", f"Model discovery failed: {exc.message}")
    return _card_or_back(request, account, "success", result.message)


@login_required_htmx
@permission_required("providers.change_provideraccount")
@require_POST
def provider_toggle(request: HttpRequest, account_id: uuid.UUID) -> HttpResponse:
    account = get_object_or_404(ProviderAccount, pk=account_id)
    services.update_account(account=account, enabled=parse_bool(request.POST.get("enabled")))
    state = "enabled" if account.enabled else "disabled (its models are not probed)"
    return _card_or_back(request, account, "success", f"Account {state}.")


@login_required_htmx
@permission_required("providers.change_llmmodel")
@require_POST
def provider_monitor(request: HttpRequest, account_id: uuid.UUID) -> HttpResponse:
    """Turn monitoring on or off for every model of the account."""
    account = get_object_or_404(ProviderAccount, pk=account_id)
    enabled = parse_bool(request.POST.get("enabled"))
    count = services.set_flags_for_account(account=account, enabled_for_monitoring=enabled)
    verb = "Monitoring" if enabled else "Stopped monitoring"
    return _card_or_back(request, account, "success", f"{verb} {count} model(s).")


@login_required_htmx
@permission_required("providers.change_provideraccount")
@require_POST
def provider_edit(request: HttpRequest, account_id: uuid.UUID) -> HttpResponse:
    """Rename and/or patch credentials; the merged credentials must validate before saving."""
    account = get_object_or_404(ProviderAccount, pk=account_id)
    form = AccountEditForm(request.POST, account=account)
    if not form.is_valid():
        errors = form.messages()
        if request.htmx:
            return _card(
                request,
                account.pk,
                notice={"level": "error", "text": "Not saved: fix the highlighted fields."},
                edit_data=request.POST,
                edit_errors=errors,
            )
        messages.error(request, "Not saved: " + " ".join(errors.values()))
        return redirect("providers")
    services.update_account(account=account, **form.validated_data)
    return _card_or_back(request, account, "success", "Saved.")


@login_required_htmx
@permission_required("providers.delete_provideraccount")
@require_POST
def provider_delete(request: HttpRequest, account_id: uuid.UUID) -> HttpResponse:
    account = get_object_or_404(ProviderAccount, pk=account_id)
    name = account.display_name
    try:
        services.delete_account(account=account)
    except errors.Conflict as exc:
        return _card_or_back(
            request,
            account,
            "error",
            f"{exc.message}. Disable the account instead, or delete those benchmark runs first.",
        )
    text = f"Deleted “{name}” and its models."
    if request.htmx:
        return render(request, "providers/deleted.html", {"text": text})
    messages.success(request, text)
    return redirect("providers")


# --- a model's tags (the form on the model page) ------------------------------------------------


@login_required_htmx
@permission_required("providers.change_llmmodel")
@require_POST
def model_tags(request: HttpRequest, model_id: uuid.UUID) -> HttpResponse:
    """Set the model's own tags, then back to its page with a message.

    The form lives on the model page (dashboard); bad input is shown on the field in a page
    of its own with the form as sent, since this app does not render the dashboard's page.
    """
    model = _model(model_id)
    form = ModelTagsForm(request.POST)
    if not form.is_valid():
        errors = form.messages()
        context = {
            "page": "dashboard",
            "model": model,
            "tags_value": request.POST.get("tags", ""),
            "tags_error": errors.get("tags") or errors.get("form", ""),
        }
        return render(request, "providers/model_tags_page.html", context)
    saved = form.validated_data["tags"]
    services.update_model(model=model, tags=saved)
    text = ", ".join(saved) if saved else "none of its own"
    messages.success(request, f"Tags of “{model.display_name}”: {text}.")
    return redirect(reverse("model-detail", args=[model.pk]) + "#tags")


# --- models page --------------------------------------------------------------------------------


# The Models and Monitoring pages' bulk actions: (button, question, confirmation); "{n}" is the
# number of matching models. Each applies to the page's filtered selection.
BULK_WORDS = {
    BulkAction.MONITOR: ("Monitor", "Monitor all {n} matching models?", "Yes, monitor"),
    BulkAction.UNMONITOR: (
        "Stop monitoring",
        "Stop monitoring all {n} matching models?",
        "Yes, stop monitoring",
    ),
    BulkAction.ENABLE_BENCHMARK: (
        "Offer for benchmarks",
        "Offer all {n} matching models for benchmarks?",
        "Yes, offer them",
    ),
    BulkAction.DISABLE_BENCHMARK: (
        "Withdraw from benchmarks",
        "Withdraw all {n} matching models from benchmarks?",
        "Yes, withdraw them",
    ),
    BulkAction.ADD_TAG: ("Add a tag", "Add this tag to all {n} matching models?", "Add tag"),
}
# An action that cannot change anything under a filter is not offered (monitoring "off" models
# can be monitored, not unmonitored).
POINTLESS = {
    ("monitored", "yes"): BulkAction.MONITOR,
    ("monitored", "no"): BulkAction.UNMONITOR,
    ("benchmark", "yes"): BulkAction.ENABLE_BENCHMARK,
    ("benchmark", "no"): BulkAction.DISABLE_BENCHMARK,
}


def useful_actions(filters: dict) -> list[BulkAction]:
    """The bulk actions that may change something among the models these filters match."""
    pointless = {
        POINTLESS.get((name, value)) for name, value in filters.items() if isinstance(value, str)
    }
    return [action for action in BULK_WORDS if action not in pointless]


def bulk_actions(url: str, count: int, filters: dict, actions=tuple(BULK_WORDS)) -> dict:
    """The bulk bar (templates/bulk_actions.html): each action's button and confirmation, and
    the filters its form carries, so the POST selects what the page counted."""
    return {
        "url": url,
        "count": count,
        "fields": hidden_fields(filters),
        "actions": [
            {
                "action": action.value,
                "label": BULK_WORDS[action][0].format(n=count),
                "question": BULK_WORDS[action][1].format(n=count),
                "confirm": BULK_WORDS[action][2],
                "needs_tag": action == BulkAction.ADD_TAG,
            }
            for action in actions
        ],
    }


def _models_context(request: HttpRequest) -> dict:
    chosen, problems = selection.from_params(request.GET)
    models = chosen.apply(
        LLMModel.objects.select_related("provider_account")
        .prefetch_related("tags", "provider_account__tags")
        .order_by("provider_account__created_at", "provider_account_id", "model_id")
    )
    filters = chosen.params()
    paging = paginate(request, models, MODELS_PER_PAGE, filters)
    count = paging["page_obj"].paginator.count
    return {
        "page": "models",
        "selection": chosen,
        "filters": filters,
        "problems": problems,
        "bulk": bulk_actions(
            reverse("models-bulk"),
            count,
            filters,
            useful_actions(filters),
        ),
        **paging,
    }


def _render_models(request: HttpRequest, *, add_data=None, add_errors=None) -> HttpResponse:
    context = _models_context(request)
    if request.htmx and request.htmx.target == "models-table":
        return render(request, "providers/models_table.html", context)
    accounts = list(ProviderAccount.objects.order_by("created_at", "id"))
    add_data = add_data or {}
    account_id = context["selection"].account_id
    context.update(
        accounts=accounts,
        tag_options=tag_options(),
        add_data=add_data,
        add_errors=add_errors or {},
        # A fresh form defaults to: benchmark on, monitoring off (the model's defaults).
        add_benchmark=parse_bool(add_data.get("enabled_for_benchmark")) if add_data else True,
        add_monitoring=parse_bool(add_data.get("enabled_for_monitoring")),
        add_provider=add_data.get("provider_account_id") or str(account_id or ""),
    )
    return render(request, "providers/models.html", context)


def _row(request: HttpRequest, model: LLMModel, *, notice=None) -> HttpResponse:
    return render(request, "providers/models_row.html", {"m": model, "notice": notice})


@login_required_htmx
@require_GET
def models_page(request: HttpRequest) -> HttpResponse:
    response = _render_models(request)
    # The same URL answers with the page or, for htmx, the table alone (with hx-push-url the
    # browser must not serve one from its cache in place of the other).
    patch_vary_headers(response, ("HX-Request", "HX-Target"))
    return response


@login_required_htmx
@permission_required("providers.add_llmmodel")
@require_POST
def model_add(request: HttpRequest) -> HttpResponse:
    form = ModelAddForm(request.POST)
    if form.is_valid():
        data = form.validated_data
        try:
            account_id = data.pop("provider_account_id")
            services.add_model(account_id=account_id, **data)
        except errors.Conflict as exc:
            form.add_error("model_id", exc.message)
        else:
            messages.success(request, f"Added model “{data['model_id']}”.")
            query = urlencode(
                {"provider": form.cleaned_data["provider_account_id"], "q": data["model_id"]}
            )
            return redirect(f"{reverse('models')}?{query}")
    return _render_models(request, add_data=request.POST, add_errors=form.messages())


@login_required_htmx
@permission_required("providers.change_llmmodel")
@require_POST
def models_bulk(request: HttpRequest) -> HttpResponse:
    """One action on every model the page's filters match (the form carries them, and the
    count it showed), then back to the page with those filters and what changed."""
    chosen, problems = selection.from_params(request.POST)
    query = urlencode(hidden_fields(chosen.params()))
    back = f"{reverse('models')}?{query}" if query else reverse("models")
    if problems:
        messages.error(request, "Nothing changed: " + " ".join(problems.values()))
        return redirect(back)
    models = chosen.apply(LLMModel.objects.all())
    if not count_holds(request, models.count()):
        return redirect(back)
    try:
        result = services.bulk_update(
            models=models,
            action=request.POST.get("action", ""),
            # "tag" is the filter's: the tag to add is "new_tag".
            tag=request.POST.get("new_tag", "").strip() or None,
            filters=chosen.describe(),
        )
    except errors.Invalid as exc:
        messages.error(request, f"Nothing changed: {exc.message}")
    else:
        messages.success(request, result.message)
    return redirect(back)


def _model(model_id: uuid.UUID) -> LLMModel:
    return get_object_or_404(LLMModel.objects.select_related("provider_account"), pk=model_id)


@login_required_htmx
@permission_required("providers.change_llmmodel")
@require_POST
def model_toggle(request: HttpRequest, model_id: uuid.UUID) -> HttpResponse:
    """Set monitoring or benchmark on or off (the posted state, so a double click is harmless)."""
    model = _model(model_id)
    flag = {"monitoring": "enabled_for_monitoring", "benchmark": "enabled_for_benchmark"}.get(
        request.POST.get("field", "")
    )
    if flag is None:
        notice = {"level": "error", "text": "Unknown switch."}
    else:
        services.update_model(model=model, **{flag: parse_bool(request.POST.get("enabled"))})
        notice = None
    if request.htmx:
        return _row(request, model, notice=notice)
    if notice:
        messages.error(request, notice["text"])
    return redirect_back(request, "models")


@login_required_htmx
@permission_required("providers.change_llmmodel")
@require_POST
def model_rename(request: HttpRequest, model_id: uuid.UUID) -> HttpResponse:
    """Set the custom name; a blank name clears it (the model id is shown instead)."""
    model = _model(model_id)
    form = ModelRenameForm({"custom_name": request.POST.get("custom_name", "")})
    if form.is_valid():
        services.update_model(model=model, custom_name=form.validated_data["custom_name"])
        notice = None
    else:
        notice = {"level": "error", "text": "Not renamed: " + " ".join(form.messages().values())}
    if request.htmx:
        return _row(request, model, notice=notice)
    if notice:
        messages.error(request, notice["text"])
    return redirect_back(request, "models")


@login_required_htmx
@permission_required("providers.delete_llmmodel")
@require_POST
def model_delete(request: HttpRequest, model_id: uuid.UUID) -> HttpResponse:
    model = _model(model_id)
    name = model.display_name
    try:
        services.delete_model(model=model)
    except errors.Conflict as exc:
        text = f"{exc.message}. Turn it off instead."
        if request.htmx:
            return _row(request, model, notice={"level": "error", "text": text})
        messages.error(request, text)
        return redirect_back(request, "models")
    if request.htmx:
        return render(request, "providers/models_deleted.html", {"text": f"Deleted “{name}”."})
    messages.success(request, f"Deleted “{name}”.")
    return redirect_back(request, "models")
