"""Password guessing and sign-up enumeration are limited per account and per client address."""

from __future__ import annotations

import httpx

from tests.hostile.conftest import PASSWORD, fresh_address, new_user, user_service, user_settings

WINDOW_S = 60


def _limits(**overrides: int | bool) -> dict[str, int | bool]:
    return {
        "login_max_per_email_per_ip": 3,
        "login_max_per_ip": 1000,
        "login_max_per_email": 1000,
        "register_max_per_ip": 1000,
        "throttle_window_s": WINDOW_S,
    } | overrides


def _assert_throttled(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.json()["error"] == "too_many_requests"
    assert 1 <= int(response.headers["Retry-After"]) <= WINDOW_S


async def _login(client: httpx.AsyncClient, email: str, password: str, **kw: str) -> httpx.Response:
    return await client.post("/login", json={"email": email, "password": password}, **kw)  # type: ignore[arg-type]


async def test_wrong_passwords_lock_the_account_from_that_address_for_the_window() -> None:
    settings = user_settings(**_limits())
    async with user_service(settings, fresh_address()) as (_, client):
        user = new_user()
        assert (await client.post("/register", json=user)).status_code == 201
        for _ in range(3):
            assert (await _login(client, user["email"], "wrong password")).status_code == 401
        _assert_throttled(await _login(client, user["email"], "wrong password"))
        # Locked even for the right password, and whatever the case of the email.
        _assert_throttled(await _login(client, user["email"].upper(), PASSWORD))


async def test_a_guesser_at_one_address_cannot_lock_the_owner_out() -> None:
    settings = user_settings(**_limits(login_max_per_email=10))
    owner_address = fresh_address()
    async with user_service(settings, owner_address) as (_, owner):
        user = new_user()
        assert (await owner.post("/register", json=user)).status_code == 201
    async with user_service(settings, fresh_address()) as (_, attacker):
        answers = [(await _login(attacker, user["email"], "guess")).status_code for _ in range(40)]
        # Three guesses counted, the rest refused, and refused ones counted nowhere.
        assert answers == [401] * 3 + [429] * 37
    async with user_service(settings, owner_address) as (_, owner):
        assert (await _login(owner, user["email"], PASSWORD)).status_code == 200


async def test_guessing_one_account_from_many_addresses_stops_at_its_ceiling() -> None:
    settings = user_settings(**_limits(login_max_per_email_per_ip=2, login_max_per_email=5))
    user = new_user()
    counted = 0
    async with user_service(settings, fresh_address()) as (_, client):
        assert (await client.post("/register", json=user)).status_code == 201
    for _ in range(4):
        async with user_service(settings, fresh_address()) as (_, guesser):
            for _ in range(3):
                response = await _login(guesser, user["email"], "guess")
                if response.status_code == 401:
                    counted += 1
                else:
                    _assert_throttled(response)
    # Two per address until the account's ceiling: 2 + 2 + 1, then nothing from anywhere.
    assert counted == 5
    async with user_service(settings, fresh_address()) as (_, anyone):
        _assert_throttled(await _login(anyone, user["email"], "guess"))


async def test_successful_logins_do_not_use_up_the_limit() -> None:
    async with user_service(user_settings(**_limits()), fresh_address()) as (_, client):
        user = new_user()
        assert (await client.post("/register", json=user)).status_code == 201
        for _ in range(6):
            assert (await _login(client, user["email"], PASSWORD)).status_code == 200


async def test_one_address_cannot_guess_across_many_accounts() -> None:
    settings = user_settings(**_limits(login_max_per_ip=4))
    async with user_service(settings, fresh_address()) as (_, client):
        for _ in range(4):
            response = await _login(client, new_user()["email"], "guess")
            assert response.status_code == 401
        _assert_throttled(await _login(client, new_user()["email"], "guess"))
        # A forged X-Forwarded-For does not help when no trusted proxy is configured.
        forged = await _login(
            client, new_user()["email"], "guess", headers={"X-Forwarded-For": fresh_address()}
        )
        _assert_throttled(forged)
    async with user_service(settings, fresh_address()) as (_, other_client):
        assert (await _login(other_client, new_user()["email"], "guess")).status_code == 401


async def test_behind_a_trusted_proxy_the_forwarded_address_counts() -> None:
    settings = user_settings(**_limits(login_max_per_ip=2, trust_forwarded_for=True))
    proxy = fresh_address()
    attacker, bystander = fresh_address(), fresh_address()
    async with user_service(settings, proxy) as (_, client):
        # The proxy appends the address it saw; what the client wrote before it is not trusted.
        via_proxy = {"X-Forwarded-For": f"{bystander}, {attacker}"}
        for _ in range(2):
            assert (
                await _login(client, new_user()["email"], "guess", headers=via_proxy)
            ).status_code == 401
        _assert_throttled(await _login(client, new_user()["email"], "guess", headers=via_proxy))
        other = await _login(
            client, new_user()["email"], "guess", headers={"X-Forwarded-For": bystander}
        )
        assert other.status_code == 401


async def test_registration_cannot_enumerate_emails_past_the_limit() -> None:
    settings = user_settings(**_limits(register_max_per_ip=3))
    async with user_service(settings, fresh_address()) as (_, client):
        taken = new_user()
        assert (await client.post("/register", json=taken)).status_code == 201
        probe = new_user(email=taken["email"])
        # A 409 answers "this email is registered": it counts like any sign-up.
        assert (await client.post("/register", json=probe)).status_code == 409
        assert (await client.post("/register", json=new_user())).status_code == 201
        _assert_throttled(await client.post("/register", json=new_user(email=taken["email"])))
        refused = new_user()
        _assert_throttled(await client.post("/register", json=refused))
        # Nothing was stored for a throttled sign-up.
        login = await _login(client, refused["email"], PASSWORD)
        assert login.status_code == 401
