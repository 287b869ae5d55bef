"""What the browser tests do on every admin page: log in as the ``staff`` fixture's user, run a changelist action."""


def log_in(page, live_server, viewport=None):
    if viewport:
        page.set_viewport_size(viewport)
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "staff")
    page.fill("#id_password", "correct horse battery")
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")


def run_action(page, changelist_url, row_pk, action_label):
    page.goto(changelist_url)
    page.check(f"input[name=_selected_action][value='{row_pk}']")
    page.select_option("select[name=action]", label=action_label)
    page.click("button[name=index]")
