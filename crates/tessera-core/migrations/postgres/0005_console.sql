-- What the console asks quickly, however many users there are: users by
-- role (admin) or status within the username order, and an action's
-- entries over time.
CREATE INDEX users_admin_username ON users (is_admin, username_lower);
CREATE INDEX users_disabled_username ON users (disabled, username_lower);
CREATE INDEX audit_log_event_at ON audit_log (event, at);
