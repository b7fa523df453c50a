-- From dssg/triage dirtyduck/food_db/01_create_inspections_table.sql at commit 45e5c17d344371128f5687d1b16b975e66d0f1cc.
-- One change, marked CHANGED below: no COPY FROM PROGRAM (the data file is not available here;
-- examples/dirtyduck/database.py loads generated rows into this table with COPY FROM STDIN).

create schema if not exists raw;

drop table if exists raw.inspections;
create table if not exists raw.inspections (
       inspection text not null,
       DBA_Name text,
       AKA_Name text,
       license_Num decimal,
       facility_type text,
       risk text,
       address text,
       city text,
       state text,
       zip text,
       date date,
       type text,
       results text,
       violations text,
       latitude decimal,
       longitude decimal,
       location text
);

-- CHANGED: Triage's file reads the data here with
--   copy raw.inspections from program 'bzcat /tmp/inspections_2014_2017.csv.bz2' HEADER CSV QUOTE '"';
-- That file is not available here and COPY FROM PROGRAM needs superuser rights and a file on the
-- server: database.py copies the generated rows in from the client instead.
