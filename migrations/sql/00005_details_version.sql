-- +goose Up
-- The aggregate version at the product's last catalogue change (creation,
-- details, price): what list items carry. Stock moves advance the aggregate
-- version but leave the list untouched, so a cached list stays exact.
ALTER TABLE products ADD COLUMN details_version bigint NOT NULL DEFAULT 0;
UPDATE products p SET details_version = COALESCE((
    SELECT max(e.version) FROM events e
     WHERE e.stream_id = p.id
       AND e.event_type IN ('ProductCreated', 'ProductDetailsChanged', 'ProductPriceChanged')), 0);

-- +goose Down
ALTER TABLE products DROP COLUMN details_version;
