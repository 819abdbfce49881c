<?PHP
# Old-style array() syntax, a BOM and a closing tag.
return ARRAY(
    'version' => '2.0.0-rc.1',
    'version_code' => 2000000,
    /* nested, mixed syntaxes */
    'requires' => array('php' => '8.2.0', 'extensions' => ['json', 'mbstring']),
    'plugins' => array(),
);
?>

