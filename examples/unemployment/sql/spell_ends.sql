-- One row per exit, with the registration it ends: the person's latest registration on or before
-- the exit. Partitioned by the exit's datestamp, so a spell's end is known from the day it arrives.
SELECT DISTINCT ON (e.exit_id)
       e.exit_id,
       e.person_id,
       r.registration_id,
       r.registered_on,
       e.exited_on,
       CAST(e.exited_on - r.registered_on AS INTEGER) AS days_unemployed,
       e.reason,
       e._datestamp
FROM raw.exits AS e
JOIN raw.registrations AS r
  ON r.person_id = e.person_id AND r.registered_on <= e.exited_on
WHERE e._datestamp BETWEEN {start} AND {end}
ORDER BY e.exit_id, r.registered_on DESC
