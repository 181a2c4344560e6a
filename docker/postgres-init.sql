-- Creates and seeds activity_logs (100k events over 90 days) on first start.
CREATE TABLE IF NOT EXISTS activity_logs (
    id          bigint PRIMARY KEY,
    created_at  timestamp NOT NULL,
    event_name  text NOT NULL,
    user_id     bigint NOT NULL,
    properties  jsonb NOT NULL DEFAULT '{}'
);
INSERT INTO activity_logs (id, created_at, event_name, user_id, properties)
SELECT g,
       (now() AT TIME ZONE 'UTC') - random() * interval '90 days',
       (ARRAY['page_view','page_view','page_view','click','add_to_cart','search','purchase','signup'])[1 + floor(random() * 8)::int],
       1 + floor(20000 * power(random(), 3))::bigint,
       jsonb_build_object('source', (ARRAY['google','direct','newsletter','facebook'])[1 + floor(random() * 4)::int],
                          'page', '/products/' || (1 + floor(random() * 500)::int),
                          'device', jsonb_build_object('type', (ARRAY['mobile','desktop','tablet'])[1 + floor(random() * 3)::int]))
FROM generate_series(1, 100000) g
ON CONFLICT DO NOTHING;
