/*
 * inet_t.c - tests for addresses and CIDR lists (common/inet.c).
 */
#include "inet.h"
#include "tap.h"

static int in(const char *net, const char *addr)
{
	struct cidr c;
	struct ipaddr ip;

	if (cidr_parse(net, &c) < 0 || ip_parse(addr, &ip) < 0)
		return -1;
	return cidr_match(&c, &ip);
}

int main(void)
{
	struct cidr c;
	struct cidrlist l = { 0 };
	struct ipaddr ip;
	char s[IP_STR_MAX];

	is_int(in("127.0.0.0/8", "127.1.2.3"), 1, "v4 in /8");
	is_int(in("127.0.0.0/8", "128.0.0.1"), 0, "v4 not in /8");
	is_int(in("0.0.0.0/0", "1.2.3.4"), 1, "/0 matches all v4");
	is_int(in("192.0.2.1", "192.0.2.1"), 1, "host without prefix");
	is_int(in("192.0.2.1/32", "192.0.2.2"), 0, "host /32 mismatch");
	is_int(in("2001:db8::/32", "2001:db8:1::1"), 1, "v6 in /32");
	is_int(in("2001:db8::/32", "2001:db9::1"), 0, "v6 not in /32");
	is_int(in("::ffff:127.0.0.0/104", "127.0.0.1"), 1, "mapped net, v4 addr");
	is_int(in("127.0.0.0/8", "::ffff:127.0.0.1"), 1, "v4 net, mapped addr");
	is_int(in("::1", "::1"), 1, "::1");
	is_int(in("10.0.0.0/7", "11.255.255.255"), 1, "odd prefix");
	is_int(in("10.0.0.0/7", "12.0.0.0"), 0, "odd prefix out");
	is_int(cidr_parse("1.2.3.4/33", &c), -1, "v4 /33 refused");
	is_int(cidr_parse("::/129", &c), -1, "v6 /129 refused");
	is_int(cidr_parse("1.2.3.4/", &c), -1, "empty prefix refused");
	is_int(cidr_parse("1.2.3.4/a", &c), -1, "junk prefix refused");
	is_int(cidr_parse("1.2.3/24", &c), -1, "short v4 refused");
	is_int(cidr_parse("", &c), -1, "empty refused");
	is_int(cidr_parse("1.2.3.4/0024", &c), -1, "4-digit prefix refused");
	is_int(ip_parse("fe80::1%eth0", &ip), -1, "zone id refused");
	cidr_parse("192.0.2.77/24", &c);
	is_str(ip_format(&c.ip, s, sizeof(s)), "192.0.2.0", "host bits cleared");
	is_int(cidrlist_add(&l, "10.0.0.0/8"), 0, "list add v4");
	is_int(cidrlist_add(&l, "2001:db8::/32"), 0, "list add v6");
	is_int(cidrlist_add(&l, "nonsense"), -1, "list add junk refused");
	ip_parse("2001:db8::5", &ip);
	is_int(cidrlist_match(&l, &ip), 1, "list match v6");
	ip_parse("11.0.0.1", &ip);
	is_int(cidrlist_match(&l, &ip), 0, "list no match");
	cidrlist_free(&l);
	{
		char rev[128];

		ip_parse("192.0.2.7", &ip);
		is_int(ip_reverse_name(&ip, "list.example", rev, sizeof(rev)),
		    0, "reverse v4");
		is_str(rev, "7.2.0.192.list.example", "v4 octets reversed");
		ip_parse("2001:db8::5", &ip);
		ip_reverse_name(&ip, "ip6.arpa", rev, sizeof(rev));
		is_str(rev, "5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
		    "8.b.d.0.1.0.0.2.ip6.arpa", "v6 nibbles reversed");
		is_int(ip_reverse_name(&ip, "ip6.arpa", rev, 72), -1,
		    "too long for out: -1");
	}
	return done_testing();
}
