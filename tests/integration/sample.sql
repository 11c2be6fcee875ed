-- A small shop database used by the load tests and scripts/demo.
CREATE TABLE users (
	id INTEGER PRIMARY KEY,
	name TEXT NOT NULL,
	email VARCHAR(40) UNIQUE,
	balance_cents INTEGER NOT NULL DEFAULT 0,
	created_at DATETIME,
	legacy_code TEXT,
	deleted_at TEXT
);
CREATE TABLE orders (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	user_id INTEGER NOT NULL REFERENCES users(id),
	total_cents INTEGER NOT NULL,
	status TEXT NOT NULL DEFAULT 'new',
	note TEXT
);
CREATE INDEX orders_user ON orders(user_id);
INSERT INTO users VALUES
	(1, 'Ada Lovelace', 'ada@example.com', 1999, '2024-01-15 09:30:00', 'A1', NULL),
	(2, 'Alan Turing', 'alan@example.com', 250000, '2024-02-29 23:59:59.123456', 'B2', NULL),
	(3, 'Grace Hopper', NULL, 0, NULL, NULL, NULL),
	(4, 'Old Account', 'old@example.com', 5, '2019-05-01 00:00:00', 'Z9', '2020-01-01');
INSERT INTO orders(user_id, total_cents, status, note) VALUES
	(1, 1999, 'paid', NULL),
	(1, 500, 'new', 'gift wrap, "fragile"'),
	(2, 123456789, 'paid', 'tab	and
newline'),
	(3, 1, 'cancelled', '');
