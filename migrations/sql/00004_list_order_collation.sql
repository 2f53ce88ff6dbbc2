-- +goose Up
-- The list is ordered by name in code-point order whatever the database's
-- collation, so a rebuild in Go (replay) orders it exactly as PostgreSQL does.
DROP INDEX products_list_order;
CREATE INDEX products_list_order ON products (name COLLATE "C", id);

-- +goose Down
DROP INDEX products_list_order;
CREATE INDEX products_list_order ON products (name, id);
