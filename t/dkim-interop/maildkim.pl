#!/usr/bin/perl
# maildkim.pl - sign and verify messages with Perl's Mail::DKIM, for
# t/dkim-interop.t (Debian 12: libmail-dkim-perl 1.20230212, RSA only).
#
# Usage: maildkim.pl < request.json > reply.json
#   request  {"mode": "sign" | "verify", "dns_port": N, "jobs": [...]}
#   sign     job {"in": FILE, "out": FILE, "key": PEMFILE, "domain": D,
#                 "selector": S, "canon": "relaxed/simple",
#                 "alg": "rsa-sha256"}
#            writes FILE "out": the DKIM-Signature field, then the message
#   verify   job {"in": FILE}
#   reply    {"results": [{"in": FILE, "ok": 1|0, "error": TEXT,
#             "result": R, "detail": T, "sigs": [{"d": D, "s": S,
#             "a": ALG, "result": R, "detail": T}]}]}
#
# Messages are read as bytes; line ends are made CRLF, as Mail::DKIM
# expects.  Key lookups go to the test DNS server on 127.0.0.1:dns_port
# only (Net::DNS resolver given to Mail::DKIM::DNS).  One job's failure is
# reported in its reply entry ("ok": 0) and the others still run.
use strict;
use warnings;
use JSON::PP;
use Net::DNS;
use Mail::DKIM::DNS;
use Mail::DKIM::Signer;
use Mail::DKIM::Verifier;

binmode STDIN;
binmode STDOUT;
my $req = do { local $/; decode_json(<STDIN>) };

if ($req->{dns_port}) {
	my $res = Net::DNS::Resolver->new(
		nameservers => ['127.0.0.1'],
		port => $req->{dns_port},
		recurse => 1,
		tcp_timeout => 5,
		udp_timeout => 5,
		retry => 2,
	);
	Mail::DKIM::DNS::resolver($res);
}

# slurp - a file's bytes with CRLF line ends
sub slurp {
	my ($path) = @_;
	open(my $fh, '<:raw', $path) or die "$path: $!\n";
	my $data = do { local $/; <$fh> };
	close($fh);
	$data =~ s/\r?\n/\r\n/g;
	return $data;
}

# do_sign - one signing job; returns the reply entry
sub do_sign {
	my ($job) = @_;
	my $msg = slurp($job->{in});
	my $signer = Mail::DKIM::Signer->new(
		Algorithm => $job->{alg} || 'rsa-sha256',
		Method => $job->{canon},
		Domain => $job->{domain},
		Selector => $job->{selector},
		KeyFile => $job->{key},
	);
	$signer->PRINT($msg);
	$signer->CLOSE;
	my $sig = $signer->signature
	    or die "no signature made: " . ($signer->result_detail // '') . "\n";
	my $field = $sig->as_string;
	$field =~ s/\r?\n/\r\n/g;
	open(my $out, '>:raw', $job->{out}) or die "$job->{out}: $!\n";
	print $out $field, "\r\n", $msg;
	close($out) or die "$job->{out}: $!\n";
	return { in => $job->{in}, ok => 1 };
}

# do_verify - one verification job; returns the reply entry
sub do_verify {
	my ($job) = @_;
	my $msg = slurp($job->{in});
	my $v = Mail::DKIM::Verifier->new();
	$v->PRINT($msg);
	$v->CLOSE;
	my @sigs;
	foreach my $s ($v->signatures) {
		push @sigs, {
			d => scalar($s->domain) // '',
			s => scalar($s->selector) // '',
			a => scalar($s->algorithm) // '',
			result => scalar($s->result) // '',
			detail => scalar($s->result_detail) // '',
		};
	}
	return { in => $job->{in}, ok => 1, result => $v->result // '',
	    detail => $v->result_detail // '', sigs => \@sigs };
}

my @results;
foreach my $job (@{ $req->{jobs} }) {
	my $r = eval {
		$req->{mode} eq 'sign' ? do_sign($job) : do_verify($job);
	};
	if (!$r) {
		my $err = $@ || 'unknown error';
		chomp $err;
		$r = { in => $job->{in}, ok => 0, error => $err };
	}
	push @results, $r;
}
print JSON::PP->new->canonical->encode({ results => \@results }), "\n";
