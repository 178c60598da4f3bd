import pytest

from app import config, create_app


def test_demo_defaults_run_without_any_environment() -> None:
    settings = config.load({})
    assert settings["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///")
    assert settings["STRIPE_JS_URL"] == "https://js.stripe.com/v3/"
    assert settings["FEE_FIXED"] == {"usd": 30, "eur": 25, "try": 300}


def test_stripe_api_base_points_stripe_js_at_localstripe_too() -> None:
    settings = config.load({"STRIPE_API_BASE": "http://127.0.0.1:8420/"})
    assert settings["STRIPE_API_BASE"] == "http://127.0.0.1:8420"
    assert settings["STRIPE_JS_URL"] == "http://127.0.0.1:8420/js.stripe.com/v3/"


def test_production_refuses_demo_secrets() -> None:
    with pytest.raises(config.ConfigError) as caught:
        create_app({"APP_ENV": "production"})
    message = str(caught.value)
    for name in ("SECRET_KEY", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "DATABASE_URL"):
        assert name in message
    assert config.DEMO_SECRET_KEY not in message  # names the settings, never a value


def test_production_starts_with_real_settings() -> None:
    app = create_app(
        {
            "APP_ENV": "production",
            "SECRET_KEY": "Vq3#tR8zLm2Kp9Wx5Yc7Nb4Hd6Fg1Js0Ae",
            "STRIPE_SECRET_KEY": "sk_live_realkey",
            "STRIPE_PUBLISHABLE_KEY": "pk_live_realkey",
            "STRIPE_WEBHOOK_SECRET": "whsec_realsecret",
            "STRIPE_API_BASE": "",
            "DATABASE_URL": "postgresql+psycopg://db.internal/support",
            "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://db.internal/support",
        }
    )
    assert app.config["SESSION_COOKIE_SECURE"] is True


#: A key the production checks accept: 32+ characters, many distinct.
STRONG = "n8Q2v7RkXw3LpZ5tMa9YcE4bHs6JdG1u"

REAL = {
    "APP_ENV": "production",
    "SECRET_KEY": "Vq3#tR8zLm2Kp9Wx5Yc7Nb4Hd6Fg1Js0Ae",
    "STRIPE_SECRET_KEY": "sk_live_realkey",
    "STRIPE_PUBLISHABLE_KEY": "pk_live_realkey",
    "STRIPE_WEBHOOK_SECRET": "whsec_realsecret",
    "STRIPE_API_BASE": "",
    "DATABASE_URL": "postgresql+psycopg://db.internal/support",
    "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://db.internal/support",
}


def test_production_refuses_a_short_or_demo_staff_totp_key() -> None:
    for key in ("too-short", f"{STRONG},short", config.DEMO_SECRET_KEY):
        with pytest.raises(config.ConfigError) as caught:
            create_app({**REAL, "STAFF_TOTP_KEY": key})
        assert "STAFF_TOTP_KEY" in str(caught.value) and key not in str(caught.value)
    # Unset, the key derives from SECRET_KEY (checked on its own); two long keys rotate.
    assert create_app(REAL).config["STAFF_TOTP_KEY"] == ""
    create_app({**REAL, "STAFF_TOTP_KEY": f"{STRONG}new,{STRONG}old"})
    assert config.staff_totp_keys({"STAFF_TOTP_KEY": " new-key , old-key ", "SECRET_KEY": "s"}) == [
        "new-key",
        "old-key",
    ]
    assert config.staff_totp_keys({"STAFF_TOTP_KEY": "", "SECRET_KEY": "s"}) == ["s"]


def test_the_readme_lists_every_setting() -> None:
    readme = (config.ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Settings", 1)[1].split("\n## ", 1)[0]
    missing = [name for name in config.SETTINGS if f"`{name}`" not in table]
    assert missing == []


def test_every_app_refuses_a_stripe_api_version_this_release_does_not_speak() -> None:
    # At endive every payment would fail (payment_method_types refused, expand invalid).
    for version in ("2026-10-28.endive", "2025-03-31.basil", "", "latest"):
        for env in ({**REAL, "STRIPE_API_VERSION": version}, {"STRIPE_API_VERSION": version}):
            with pytest.raises(config.ConfigError) as caught:
                create_app(env)
            message = str(caught.value)
            assert "STRIPE_API_VERSION" in message and repr(version) in message
            assert "2024-06-20" in message  # names what it does speak
    assert create_app({**REAL, "STRIPE_API_VERSION": "2024-06-20"}).config["STRIPE_API_VERSION"] == (
        "2024-06-20"
    )


def test_the_default_stripe_api_version_is_a_supported_one_and_the_gateway_sends_it() -> None:
    from app.services.stripe_gateway import StripeGateway

    settings = config.load({})
    assert settings["STRIPE_API_VERSION"] == config.SUPPORTED_STRIPE_API_VERSIONS[0] == "2024-06-20"
    # Built without a version (a script, a test), the gateway still sends ours, not the SDK's.
    assert StripeGateway("sk_test_x").api_version == "2024-06-20"
    assert StripeGateway.from_config(settings).api_version == "2024-06-20"


def test_an_unknown_app_env_refuses_to_start() -> None:
    # "Production" or "prod" meant production: running them without its checks would let the
    # demo SECRET_KEY sign staff sessions anyone can forge.
    for value in ("Production", "prod", "PRODUCTION", "staging", "", " production"):
        with pytest.raises(config.ConfigError) as caught:
            create_app({"APP_ENV": value})
        assert "APP_ENV" in str(caught.value)
    for value in config.APP_ENVS[:2]:
        assert create_app({"APP_ENV": value}).config["APP_ENV"] == value


def test_production_refuses_a_weak_secret_key() -> None:
    weak = (
        "x" * 32,  # 32 identical characters
        "ab" * 20,
        "0123456789abcde" * 3,  # 15 distinct characters
        config.DEMO_SECRET_KEY * 2,  # the demo value, made long
    )
    for key in weak:
        with pytest.raises(config.ConfigError) as caught:
            create_app({**REAL, "SECRET_KEY": key})
        assert "SECRET_KEY" in str(caught.value) and key not in str(caught.value)
        with pytest.raises(config.ConfigError) as caught:
            create_app({**REAL, "STAFF_TOTP_KEY": key})
        assert "STAFF_TOTP_KEY" in str(caught.value)
    create_app(REAL)
