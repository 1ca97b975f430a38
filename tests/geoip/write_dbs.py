"""Write the MaxMind-format test databases the GeoIP tests read, with PyPI `mmdb-writer`.

    write_dbs.py OUT_DIR   -> OUT_DIR/city.mmdb, city-v2.mmdb, asn.mmdb, corrupt.mmdb

The records follow the GeoIP2-City and GeoLite2-ASN layouts MaxMind documents
(https://dev.maxmind.com/geoip/docs/databases/city-and-country, .../asn): nested maps
with `names.en`, `subdivisions` as a list, `location.latitude/longitude/time_zone`,
`autonomous_system_number` and `autonomous_system_organization`. The data is made up for
the tests (no MaxMind data is used or committed): addresses of public networks with
places and owners chosen to be recognisable in an assertion.
"""

import sys

from mmdb_writer import MMDBWriter, MmdbF64, MmdbU16, MmdbU32
from netaddr import IPSet


def place(continent, country, region, city, lat, lon, tz):
    return {
        "continent": {"code": continent[0], "geoname_id": MmdbU32(continent[2]),
                      "names": {"en": continent[1]}},
        "country": {"iso_code": country[0], "geoname_id": MmdbU32(country[2]),
                    "names": {"en": country[1]}},
        "subdivisions": [{"iso_code": region[0], "names": {"en": region[1]}}],
        "city": {"names": {"en": city}},
        "location": {"latitude": MmdbF64(lat), "longitude": MmdbF64(lon), "time_zone": tz,
                     "accuracy_radius": MmdbU16(20)},
    }


def city_db(path, stockholm_city, doc_country):
    w = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoIP2-City",
                   languages=["en"], description="coder-audit-shipper test city database")
    w.insert_network(IPSet(["89.160.0.0/16"]),
                     place(("EU", "Europe", 6255148), ("SE", "Sweden", 2661886),
                           ("AB", "Stockholm County"), stockholm_city, 59.3293, 18.0686,
                           "Europe/Stockholm"))
    w.insert_network(IPSet(["2001:218::/32"]),
                     place(("AS", "Asia", 6255147), ("JP", "Japan", 1861060),
                           ("13", "Tokyo"), "Tokyo", 35.6895, 139.6917, "Asia/Tokyo"))
    # The documentation networks the sample pages use (RFC 5737, RFC 3849), so that the
    # conformance suite sees every sample's address placed.
    w.insert_network(IPSet(["198.51.100.0/24", "192.0.2.0/24", "2001:db8::/32"]),
                     place(("NA", "North America", 6255149), ("US", "United States", 6252001),
                           ("CA", "California"), "San Francisco", 37.7749, -122.4194,
                           "America/Los_Angeles"))
    # A country-level record: no subdivision, no city, as GeoLite2 has for many networks.
    w.insert_network(IPSet(["203.0.113.0/24"]),
                     {"continent": {"code": "OC", "names": {"en": "Oceania"}},
                      "country": {"iso_code": doc_country[0], "names": {"en": doc_country[1]}},
                      "location": {"latitude": MmdbF64(-33.494), "longitude": MmdbF64(143.2104),
                                   "time_zone": "Australia/Sydney"}})
    w.to_db_file(path)


def asn_db(path):
    w = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-ASN",
                   languages=["en"], description="coder-audit-shipper test ASN database")
    w.insert_network(IPSet(["89.160.0.0/16"]),
                     {"autonomous_system_number": MmdbU32(29518),
                      "autonomous_system_organization": "Bredband2 AB"})
    w.insert_network(IPSet(["2001:218::/32"]),
                     {"autonomous_system_number": MmdbU32(2914),
                      "autonomous_system_organization": "NTT America, Inc."})
    w.insert_network(IPSet(["198.51.100.0/24", "192.0.2.0/24", "203.0.113.0/24",
                            "2001:db8::/32"]),
                     {"autonomous_system_number": MmdbU32(64496),
                      "autonomous_system_organization": "Example Networks (RFC 5398)"})
    w.to_db_file(path)


def main(out):
    city_db(f"{out}/city.mmdb", "Stockholm", ("AU", "Australia"))
    # The same networks, one city and one country changed: what a database update looks
    # like (203.0.113.24 is the simulator's address).
    city_db(f"{out}/city-v2.mmdb", "Solna", ("NZ", "New Zealand"))
    asn_db(f"{out}/asn.mmdb")
    with open(f"{out}/city.mmdb", "rb") as f:
        whole = f.read()
    # Cut before the metadata marker: the reader must refuse it, not read garbage.
    with open(f"{out}/corrupt.mmdb", "wb") as f:
        f.write(whole[: len(whole) // 2])


if __name__ == "__main__":
    main(sys.argv[1])
