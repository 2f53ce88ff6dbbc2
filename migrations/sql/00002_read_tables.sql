-- +goose Up
-- Read tables are updated in the transaction that appends the events, so they
-- always agree with the log. stock_level is what can be ordered now.
CREATE TABLE products (
    id          uuid        PRIMARY KEY,
    sku         text        NOT NULL,
    name        text        NOT NULL,
    description text        NOT NULL,
    price_cents bigint      NOT NULL CHECK (price_cents >= 0),
    currency    text        NOT NULL,
    stock_level bigint      NOT NULL CHECK (stock_level >= 0),
    version     bigint      NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE UNIQUE INDEX products_sku_key ON products (lower(sku));
CREATE INDEX products_list_order ON products (name, id);

CREATE TABLE customers (
    id             uuid        PRIMARY KEY,
    email          text        NOT NULL,
    name           text        NOT NULL,
    version        bigint      NOT NULL,
    -- Bumped by every event of the customer's orders: the version that fences
    -- the cached order summaries.
    orders_version bigint      NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);
CREATE UNIQUE INDEX customers_email_key ON customers (lower(email));

CREATE TABLE orders (
    id          uuid        PRIMARY KEY,
    customer_id uuid        NOT NULL REFERENCES customers (id),
    status      text        NOT NULL,
    total_cents bigint      NOT NULL,
    currency    text        NOT NULL,
    item_count  bigint      NOT NULL,
    version     bigint      NOT NULL,
    placed_at   timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX orders_by_customer ON orders (customer_id, placed_at DESC, id DESC);

CREATE TABLE order_lines (
    order_id         uuid   NOT NULL REFERENCES orders (id),
    line_no          integer NOT NULL,
    product_id       uuid   NOT NULL,
    sku              text   NOT NULL,
    name             text   NOT NULL,
    quantity         bigint NOT NULL,
    unit_price_cents bigint NOT NULL,
    line_total_cents bigint NOT NULL,
    PRIMARY KEY (order_id, line_no)
);

-- The version of the product catalogue as a whole (any product change but
-- stock): it fences the cached page-one list and public catalogue.
CREATE TABLE catalog_version (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version   bigint  NOT NULL
);
INSERT INTO catalog_version (version) VALUES (0);

-- +goose Down
DROP TABLE catalog_version;
DROP TABLE order_lines;
DROP TABLE orders;
DROP TABLE customers;
DROP TABLE products;
